using System;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing;

// dotnet run --project samples/Emulator [-- --api-port 5050 --ingest-port 5051 --key K --secret S --org O --token-lifetime 18000 --no-rate-limit]
// Runs the m3ter emulator until Ctrl+C or SIGTERM, and prints where it is and the credentials it accepts, as
// configuration values and as environment variables, so any app can be pointed at it.
var options = new M3terEmulatorOptions { MaxRecordedRequests = 1000 };
for (int i = 0; i < args.Length; i++)
{
    string? Next() => i + 1 < args.Length ? args[++i] : null;
    switch (args[i])
    {
        case "--api-port" when Next() is string port:
            options.ApiPort = int.Parse(port, CultureInfo.InvariantCulture);
            break;
        case "--ingest-port" when Next() is string port:
            options.IngestPort = int.Parse(port, CultureInfo.InvariantCulture);
            break;
        case "--key" when Next() is string key:
            options.AccessKeyId = key;
            break;
        case "--secret" when Next() is string secret:
            options.ApiSecret = secret;
            break;
        case "--org" when Next() is string org:
            options.OrganizationId = org;
            break;
        case "--token-lifetime" when Next() is string seconds:
            options.TokenLifetime = TimeSpan.FromSeconds(double.Parse(seconds, CultureInfo.InvariantCulture));
            break;
        case "--no-rate-limit":
            options.RateLimitPerSecond = null;
            break;
        default:
            Console.Error.WriteLine("usage: dotnet run --project samples/Emulator [-- --api-port N --ingest-port N --key K --secret S --org O --token-lifetime SECONDS --no-rate-limit]");
            return 64;
    }
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
using PosixSignalRegistration terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

await using M3terEmulator m3ter = await M3terEmulator.StartAsync(options);
Console.WriteLine("m3ter emulator");
Console.WriteLine($"  API host:    {m3ter.BaseAddress} (token endpoint {m3ter.BaseAddress}oauth/token, config API)");
Console.WriteLine($"  ingest host: {m3ter.IngestBaseAddress}");
Console.WriteLine($"  rate limit:  {(options.RateLimitPerSecond is int limit ? limit + " requests/s per API" : "off")}; tokens live {options.TokenLifetime.TotalSeconds:0} s");
Console.WriteLine("  as configuration (appsettings.json or --M3ter:Key=Value):");
foreach (var (key, value) in m3ter.ConfigurationValues)
{
    Console.WriteLine($"    {key}={value}");
}

Console.WriteLine("  as environment variables:");
foreach (var (name, value) in m3ter.EnvironmentVariables)
{
    Console.WriteLine($"    export {name}={value}");
}

Console.WriteLine("ready: press Ctrl+C to stop");
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}

Console.WriteLine($"stopped after {m3ter.TokenRequestCount} token request(s) and {m3ter.ApiRequestCount} API call(s)");
return 0;
