package dev.jlora.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/**
 * Renders docs/CLI.md from the picocli definitions themselves, so the reference cannot drift from the code
 * ({@code CliReferenceTest} fails when the checked-in file differs and says how to regenerate it).
 */
final class CliReference {
    private CliReference() {}

    /** The whole reference: one section per command and subcommand, each with its {@code --help} text. */
    static String markdown() {
        CommandLine root = Main.commandLine();
        var out = new StringBuilder();
        out.append("# jlora command-line reference\n\n")
                .append("Generated from the CLI definitions by `CliReferenceTest` (do not edit by hand; regenerate with\n")
                .append("`./build -q test -pl cli -am -Dtest=CliReferenceTest -Dsurefire.failIfNoSpecifiedTests=false -Djlora.writeDocs=true`).\n\n")
                .append("Every subcommand also prints this text with `--help`.\n");
        append(out, root, "jlora");
        return out.toString();
    }

    private static void append(StringBuilder out, CommandLine cmd, String path) {
        StringWriter usage = new StringWriter();
        cmd.usage(new PrintWriter(usage), CommandLine.Help.Ansi.OFF);
        out.append("\n## `").append(path).append("`\n\n```\n").append(usage.toString().stripTrailing()).append("\n```\n");
        for (var sub : cmd.getSubcommands().entrySet()) {
            if (!sub.getKey().equals("help")) {
                append(out, sub.getValue(), path + " " + sub.getKey());
            }
        }
    }
}
