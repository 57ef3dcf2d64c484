package dev.jlora.fuzz;

/** Text that exercises a loaded tokenizer: special-token markers, whitespace runs, digits, accents, emoji, a NUL. */
final class TokenizerProbe {
    private TokenizerProbe() {}

    static final String TEXT = "<s>Once upon a time,  there was\t\n a 12345 café 🐈 <|im_start|>user\u0000 [INST] end</s>";
}
