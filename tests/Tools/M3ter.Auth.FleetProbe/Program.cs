using System;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using M3ter.Auth;
using Microsoft.Extensions.DependencyInjection;

// dotnet M3ter.Auth.FleetProbe.dll emulator
// Starts an m3ter emulator, prints "ready", and waits a minute: a test sends SIGTERM, which must stop the process (the
// emulator must not take over the process's signals). Prints "still running" if it was not stopped.
if (args is ["emulator"])
{
    await using M3ter.Auth.Testing.M3terEmulator emulator = await M3ter.Auth.Testing.M3terEmulator.StartAsync();
    Console.WriteLine("ready");
    await System.Threading.Tasks.Task.Delay(TimeSpan.FromSeconds(60));
    Console.WriteLine("still running");
    return 0;
}

// dotnet M3ter.Auth.FleetProbe.dll <base address> <access key id> <api secret> <redis configuration | none>
// Prints "ready" once its container is built, waits for a line on standard input (so a fleet starts together), gets
// one token and prints "token <fingerprint> <milliseconds to the first token>". With Redis it then adds where that time
// went: "<ms for a new cache's first read, now that the code is compiled> <ms for one more read>". Never prints the token.
if (args.Length != 4)
{
    Console.Error.WriteLine("usage: M3ter.Auth.FleetProbe <base address> <access key id> <api secret> <redis configuration | none>");
    return 2;
}

var services = new ServiceCollection();
services.AddM3terAuth(o =>
{
    o.BaseAddress = new Uri(args[0]);
    o.AccessKeyId = args[1];
    o.ApiSecret = args[2];
});
if (args[3] != "none")
{
    services.AddM3terAuthRedisTokenCache(o => o.Configuration = args[3]);
}

await using ServiceProvider provider = services.BuildServiceProvider();
ITokenProvider tokens = provider.GetRequiredService<ITokenProvider>();
Console.WriteLine("ready");
Console.In.ReadLine();

var clock = Stopwatch.StartNew();
M3terToken token = await tokens.GetTokenAsync();
double elapsed = clock.Elapsed.TotalMilliseconds;
string fingerprint = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token.AccessToken)))[..16];
string breakdown = "";
if (args[3] != "none")
{
    // The same first read again on a new connection: what the first token costs once StackExchange.Redis is compiled
    // (connect and one read), and one read on an open connection.
    var scope = new SharedTokenScope(new Uri(args[0]), args[1], args[2]);
    clock.Restart();
    await using var again = new M3ter.Auth.StackExchangeRedis.M3terRedisTokenCache(new M3ter.Auth.StackExchangeRedis.M3terRedisTokenCacheOptions { Configuration = args[3] });
    await again.ReadAsync(scope);
    double connectAndRead = clock.Elapsed.TotalMilliseconds;
    clock.Restart();
    await again.ReadAsync(scope);
    breakdown = string.Create(CultureInfo.InvariantCulture, $" {connectAndRead:F1} {clock.Elapsed.TotalMilliseconds:F1}");
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"token {fingerprint} {elapsed:F1}{breakdown}"));
return 0;
