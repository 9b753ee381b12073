using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing;

namespace M3ter.Auth.Tool;

/// <summary>
/// <c>m3ter-auth emulator</c>: runs the m3ter emulator until Ctrl+C or SIGTERM, and prints where it is and the
/// credentials it accepts, as configuration values and as environment variables, so any app can be pointed at it.
/// </summary>
internal static class EmulatorCommand
{
    public const string Usage = "m3ter-auth emulator [--api-port N] [--ingest-port N] [--key K] [--secret S] [--org O] [--token-lifetime SECONDS] [--no-rate-limit]";

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Count == 1 && args[0] is "-h" or "--help")
        {
            stdout.WriteLine("usage: " + Usage);
            return ExitCodes.Ok;
        }

        M3terEmulatorOptions options;
        try
        {
            options = Parse(args);
        }
        catch (ArgumentException ex)
        {
            return TokenCommands.Fail(stderr, ExitCodes.BadConfiguration, ex.Message + " Usage: " + Usage);
        }

        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        using PosixSignalRegistration terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });

        try
        {
            await using M3terEmulator m3ter = await M3terEmulator.StartAsync(options).ConfigureAwait(false);
            stdout.WriteLine("m3ter emulator");
            stdout.WriteLine($"  API host:    {m3ter.BaseAddress} (token endpoint {m3ter.BaseAddress}oauth/token, config API)");
            stdout.WriteLine($"  ingest host: {m3ter.IngestBaseAddress}");
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  rate limit:  {(options.RateLimitPerSecond is int limit ? limit + " requests/s per API" : "off")}; tokens live {options.TokenLifetime.TotalSeconds:0} s"));
            stdout.WriteLine("  as configuration (appsettings.json or --M3ter:Key=Value):");
            foreach (var (key, value) in m3ter.ConfigurationValues)
            {
                stdout.WriteLine($"    {key}={value}");
            }

            stdout.WriteLine("  as environment variables:");
            foreach (var (name, value) in m3ter.EnvironmentVariables)
            {
                stdout.WriteLine($"    export {name}={value}");
            }

            stdout.WriteLine("ready: press Ctrl+C to stop");
            stdout.Flush();
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            stdout.WriteLine($"stopped after {m3ter.TokenRequestCount} token request(s) and {m3ter.ApiRequestCount} API call(s)");
            return ExitCodes.Ok;
        }
        catch (IOException ex)
        {
            return TokenCommands.Fail(stderr, ExitCodes.Failed, "the emulator could not start: " + ex.Message);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static M3terEmulatorOptions Parse(IReadOnlyList<string> args)
    {
        var options = new M3terEmulatorOptions { MaxRecordedRequests = 1000 };
        for (int i = 0; i < args.Count; i++)
        {
            (string flag, string? inline) = ToolArguments.Split(args[i]);
            string Value() => inline ?? (i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{flag} needs a value."));
            int Port()
            {
                string value = Value();
                return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port <= 65535
                    ? port
                    : throw new ArgumentException($"{flag} must be a port from 0 (any free one) to 65535, but it is '{value}'.");
            }

            switch (flag)
            {
                case "--api-port":
                    options.ApiPort = Port();
                    break;
                case "--ingest-port":
                    options.IngestPort = Port();
                    break;
                case "--key":
                    options.AccessKeyId = Value();
                    break;
                case "--secret":
                    options.ApiSecret = Value();
                    break;
                case "--org":
                    options.OrganizationId = Value();
                    break;
                case "--token-lifetime":
                    string seconds = Value();
                    options.TokenLifetime = double.TryParse(seconds, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s >= 1 && s <= 86400
                        ? TimeSpan.FromSeconds(s)
                        : throw new ArgumentException($"--token-lifetime must be a number of seconds from 1 to 86400, but it is '{seconds}'.");
                    break;
                case "--no-rate-limit" when inline is null:
                    options.RateLimitPerSecond = null;
                    break;
                default:
                    throw ToolArguments.Unexpected(args[i], "emulator");
            }
        }

        return options;
    }
}
