package dev.jlora.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code jlora} command. Subcommands share one flag vocabulary (see docs/CLI.md). */
@Command(name = "jlora", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Fine-tune and serve Llama-family LLMs with LoRA and its variants, in pure Java.",
        subcommands = {CommandLine.HelpCommand.class,
                InfoCommand.class,
                GenerateCommand.class,
                TrainCommand.class,
                CompareCommand.class,
                QuickstartCommand.class,
                QuantizeCommand.class,
                EvalCommand.class,
                ExportCommand.class,
                MergeCommand.class,
                MergeAdaptersCommand.class,
                AnalyzeCommand.class,
                TransferCommand.class,
                ServeCommand.class,
                CompletionCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code (tests call this instead of {@link #main}). */
    public static int run(String... args) {
        return commandLine().execute(args);
    }

    /** The configured command tree (also what docs/CLI.md is rendered from). */
    static CommandLine commandLine() {
        return new CommandLine(new Main()).setExecutionExceptionHandler(Main::onError);
    }

    /**
     * Bad input (a malformed model file, a missing file, an invalid option value, a path not implemented yet) is
     * reported in one line with exit code 1; anything else is a bug and keeps its stack trace.
     */
    static int onError(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) throws Exception {
        if (e instanceof java.io.IOException || e instanceof IllegalArgumentException
                || e instanceof UnsupportedOperationException || e instanceof IllegalStateException) {
            String msg = e instanceof java.nio.file.NoSuchFileException n
                    ? n.getFile() + ": " + (n.getReason() == null ? "no such file" : n.getReason())
                    : e.getMessage();
            cmd.getErr().println("jlora " + cmd.getCommandName() + ": " + msg);
            cmd.getErr().flush();
            return 1;
        }
        throw e;
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            var lines = new java.util.ArrayList<String>();
            lines.add("jlora " + (v == null ? "dev" : v));
            lines.add("Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")");
            lines.add("backends (--backend auto picks the first available):");
            for (String b : dev.jlora.engine.backend.Backends.describe(dev.jlora.engine.backend.Backends.discover())) {
                lines.add("  " + b);
            }
            return lines.toArray(String[]::new);
        }
    }
}
