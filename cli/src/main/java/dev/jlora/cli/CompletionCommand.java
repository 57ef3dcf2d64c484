package dev.jlora.cli;

import java.util.concurrent.Callable;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code jlora completion bash|zsh}: prints a completion script for every subcommand and option, generated from the
 * same picocli definitions as {@code --help} (so it cannot drift). picocli's script is a bash script that also
 * enables itself in zsh through {@code bashcompinit}, so both shells get the same text.
 */
@Command(name = "completion", mixinStandardHelpOptions = true,
        description = {"Print a shell completion script for jlora (subcommands, options, enum values, files).",
                "bash: source <(jlora completion bash)   (or save it under /etc/bash_completion.d/)",
                "zsh:  source <(jlora completion zsh)    (in ~/.zshrc; uses bashcompinit)"})
final class CompletionCommand implements Callable<Integer> {

    /** The shells the script supports. */
    enum Shell { bash, zsh }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "SHELL", description = "bash or zsh")
    Shell shell;

    @Override
    public Integer call() {
        var out = spec.commandLine().getOut();
        out.print(script());
        out.flush();
        return 0;
    }

    /** The completion script of the whole {@code jlora} command tree. */
    String script() {
        return AutoComplete.bash("jlora", spec.root().commandLine());
    }
}
