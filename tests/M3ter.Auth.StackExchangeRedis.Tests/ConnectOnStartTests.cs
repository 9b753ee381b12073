using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis.Tests;

/// <summary>
/// The Redis connection opens while the host starts, not on the first request: a new process joining a warm fleet no
/// longer pays for connecting and compiling the client on its first call. An unreachable Redis never stops the start.
/// </summary>
public sealed class ConnectOnStartTests
{
    private static IHost Host(M3terEmulator m3ter, string redis, Action<M3terRedisTokenCacheOptions>? cache = null)
    {
        HostApplicationBuilder builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddM3terAuth(o =>
        {
            m3ter.Configure(o);
            o.WarmUpOnStart = false; // so only the cache's own start touches Redis
        });
        builder.Services.AddM3terAuthRedisTokenCache(o =>
        {
            o.Configuration = redis;
            cache?.Invoke(o);
        });
        return builder.Build();
    }

    /// <summary>A number from Redis's INFO (through a connection of the test's own, which counts itself).</summary>
    private static async Task<long> InfoAsync(RedisServer redis, string section, string field)
    {
        await using ConnectionMultiplexer mux = await ConnectionMultiplexer.ConnectAsync(redis.Configuration + ",allowAdmin=true");
        string info = (await mux.GetServer(mux.GetEndPoints()[0]).InfoRawAsync(section))!;
        string line = info.Split('\n').Single(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line[(field.Length + 1)..].Trim(), CultureInfo.InvariantCulture);
    }

    [RedisFact]
    public async Task HostStart_OpensTheConnection_AndSendsARead_BeforeAnyRequest()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        using IHost host = Host(m3ter, redis.Configuration);
        long clientsBefore = await InfoAsync(redis, "clients", "connected_clients");
        long commandsBefore = await InfoAsync(redis, "stats", "total_commands_processed");

        await host.StartAsync();

        Assert.True(await InfoAsync(redis, "clients", "connected_clients") > clientsBefore, "no connection from the host after its start");
        long commands = await InfoAsync(redis, "stats", "total_commands_processed");
        long probes = await InfoAsync(redis, "stats", "total_commands_processed") - commands; // what one probe of ours costs
        Assert.True(commands - commandsBefore > 2 * probes, $"{commands - commandsBefore} commands during the start, {probes} per probe"); // the probes' and the warm-up's
        Assert.Equal(0, m3ter.TokenRequestCount); // connecting is not fetching

        M3terToken token = await host.Services.GetRequiredService<ITokenProvider>().GetTokenAsync();
        Assert.False(string.IsNullOrEmpty(token.AccessToken));
        await host.StopAsync();
    }

    [RedisFact]
    public async Task HostStart_WithRedisUnreachable_CompletesWithinTheConnectTimeout_AndTheFirstTokenComesFromTheEndpoint()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        string nowhere = "127.0.0.1:" + RedisServer.FreePort().ToString(CultureInfo.InvariantCulture);
        using IHost host = Host(m3ter, nowhere, o => o.ConnectTimeout = TimeSpan.FromMilliseconds(500));

        var clock = Stopwatch.StartNew();
        await host.StartAsync();
        TimeSpan started = clock.Elapsed;

        Assert.True(started < TimeSpan.FromSeconds(5), $"the start took {started}"); // 500 ms, and then some on a busy machine; never a hang
        Assert.NotNull(host.Services.GetRequiredService<ISharedTokenCache>().Unavailable); // the breaker is open: the first request does not wait again
        clock.Restart();
        await host.Services.GetRequiredService<ITokenProvider>().GetTokenAsync();
        Assert.Equal(1, m3ter.TokenRequestCount);
        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(500) + TimeSpan.FromSeconds(2), $"the first token took {clock.Elapsed}");
        await host.StopAsync();
    }
}
