using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading.Tasks;
using M3ter.Auth.TestSupport;

namespace M3ter.Auth.Tool.Tests;

/// <summary>One run of m3ter-auth: its exit code and both streams, whole.</summary>
internal sealed record ToolRun(int ExitCode, string StandardOutput, string StandardError)
{
    private static readonly TimeSpan NoHang = TimeSpan.FromSeconds(60);

    public static string Dll => BuiltProgram.PathOf("src/M3ter.Auth.Tool", "m3ter-auth");

    /// <summary>
    /// Runs the tool with only the M3TER_* variables given (none of the test process's own), waits for it to end
    /// (at most a minute: a hang fails the test) and returns what it wrote.
    /// </summary>
    public static async Task<ToolRun> RunAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using Process process = Start(environment, args);
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(NoHang);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        return new ToolRun(process.ExitCode, await stdout, await stderr);
    }

    public static Process Start(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Dll);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (string name in new List<string>(start.Environment.Keys))
        {
            if (name.StartsWith("M3TER_", StringComparison.OrdinalIgnoreCase))
            {
                start.Environment.Remove(name);
            }
        }

        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return Process.Start(start)!;
    }

    public override string ToString() => $"exit {ExitCode}\nstdout: {StandardOutput}\nstderr: {StandardError}";
}
