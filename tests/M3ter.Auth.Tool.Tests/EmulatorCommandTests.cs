using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading.Tasks;
using M3ter.Auth.TestSupport;

namespace M3ter.Auth.Tool.Tests;

/// <summary><c>m3ter-auth emulator</c>: what samples/Emulator did, as a command of the tool.</summary>
public sealed class EmulatorCommandTests
{
    private static readonly TimeSpan NoHang = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Emulator_PrintsItsAddressesAndCredentials_ServesTheTokenCommand_AndStopsOnSigterm()
    {
        using Process process = ToolRun.Start(null, "emulator", "--key", "local-key", "--secret", "local-secret", "--org", "local-org");
        try
        {
            var lines = new List<string>();
            while (await process.StandardOutput.ReadLineAsync().WaitAsync(NoHang) is string line)
            {
                lines.Add(line);
                if (line.StartsWith("ready", StringComparison.Ordinal))
                {
                    break;
                }
            }

            Assert.Contains(lines, l => l.Contains("M3ter:AccessKeyId=local-key", StringComparison.Ordinal));
            Dictionary<string, string> environment = lines
                .Where(l => l.TrimStart().StartsWith("export M3TER_", StringComparison.Ordinal))
                .Select(l => l.Trim()["export ".Length..].Split('=', 2))
                .ToDictionary(p => p[0], p => p[1]);
            Assert.Equal(new[] { "M3TER_API_KEY", "M3TER_API_SECRET", "M3TER_BASE_URL", "M3TER_INGEST_URL", "M3TER_ORG_ID" }, environment.Keys.Order());

            ToolRun token = await ToolRun.RunAsync(environment, "token");
            Assert.True(token.ExitCode == 0, token.ToString());
            Assert.NotEqual(string.Empty, token.StandardOutput.Trim());

            BuiltProgram.Terminate(process);
            await process.WaitForExitAsync().WaitAsync(NoHang);
            Assert.Equal(0, process.ExitCode); // it handles SIGTERM itself and stops cleanly
            Assert.Contains("stopped after 1 token request(s)", await process.StandardOutput.ReadToEndAsync(), StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task Emulator_WithABadFlag_ExitsWith2_BeforeListening()
    {
        ToolRun run = await ToolRun.RunAsync(null, "emulator", "--api-port", "seventy");

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("--api-port must be a port", run.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("ready", run.StandardOutput, StringComparison.Ordinal);
    }
}
