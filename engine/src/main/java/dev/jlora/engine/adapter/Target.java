package dev.jlora.engine.adapter;

import java.util.Locale;

/** The linear layers of a decoder block an adapter can attach to, with their Hugging Face and GGUF names. */
public enum Target {
    Q("q_proj", "attn_q"),
    K("k_proj", "attn_k"),
    V("v_proj", "attn_v"),
    O("o_proj", "attn_output"),
    GATE("gate_proj", "ffn_gate"),
    UP("up_proj", "ffn_up"),
    DOWN("down_proj", "ffn_down");

    private final String hfName;
    private final String ggufName;

    Target(String hfName, String ggufName) {
        this.hfName = hfName;
        this.ggufName = ggufName;
    }

    /** Hugging Face module name, e.g. {@code q_proj}. */
    public String hfName() {
        return hfName;
    }

    /** GGUF tensor stem, e.g. {@code attn_q}. */
    public String ggufName() {
        return ggufName;
    }

    /** Parses a CLI or config name: "q", "q_proj", "attn_q" (any case). */
    public static Target parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        for (Target t : values()) {
            if (n.equals(t.name().toLowerCase(Locale.ROOT)) || n.equals(t.hfName) || n.equals(t.ggufName)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown target module '" + name
                + "': expected one of q, k, v, o, gate, up, down (or q_proj…, attn_q…)");
    }
}
