using System;
using System.IO;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth.Tool;

/// <summary>
/// m3ter-auth: what m3ter's documentation does by hand with Postman or curl -u key:secret, through M3ter.Auth itself.
/// stdout carries only what a command is for (the token, the check's report, the emulator's addresses); every message
/// goes to stderr, and the exit code says what went wrong (<see cref="ExitCodes"/>).
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        TextWriter stdout = Console.Out;
        TextWriter stderr = Console.Error;

        ToolArguments arguments;
        try
        {
            arguments = ToolArguments.Parse(args);
        }
        catch (ArgumentException ex)
        {
            return TokenCommands.Fail(stderr, ExitCodes.BadConfiguration, ex.Message);
        }

        switch (arguments.Command)
        {
            case "emulator":
                return await EmulatorCommand.RunAsync(arguments.Rest, stdout, stderr).ConfigureAwait(false);
            case "version":
                stdout.WriteLine(typeof(ToolArguments).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown");
                return ExitCodes.Ok;
            case "help":
                stdout.Write(Help.Text);
                return ExitCodes.Ok;
        }

        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };

        return arguments.Command == "token"
            ? await TokenCommands.TokenAsync(arguments, stdout, stderr, cancel.Token).ConfigureAwait(false)
            : await TokenCommands.CheckAsync(arguments, stdout, stderr, cancel.Token).ConfigureAwait(false);
    }
}
