package dev.jlora.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code jlora} command. Subcommands share one flag vocabulary (see docs/CLI.md). */
@Command(name = "jlora", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Fine-tune and serve Llama-family LLMs with LoRA and its variants, in pure Java.",
        subcommands = {CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code (tests call this instead of {@link #main}). */
    public static int run(String... args) {
        return new CommandLine(new Main()).execute(args);
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"jlora " + (v == null ? "dev" : v),
                    "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }
}
