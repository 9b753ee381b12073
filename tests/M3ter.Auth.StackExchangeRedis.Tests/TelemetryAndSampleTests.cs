using System;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using M3ter.Auth.Testing;

namespace M3ter.Auth.StackExchangeRedis.Tests;

public sealed class TelemetryAndSampleTests
{
    [RedisFact]
    public async Task SharedCacheCounters_CountHitsMissesLeaseWaitsAndErrors_OnTheM3terAuthMeter()
    {
        var seen = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "M3ter.Auth" && instrument.Name.StartsWith("m3ter.auth.shared_cache.", StringComparison.Ordinal))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => seen.AddOrUpdate(instrument.Name, value, (_, n) => n + value));
        listener.Start();
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        m3ter.EnqueueTokenFault(M3terFault.Slow(TimeSpan.FromMilliseconds(700))); // the first request is slow: the second process waits for it
        var logs = new M3ter.Auth.TestSupport.CapturingLoggerProvider();
        await using FleetMember first = FleetMember.Create(m3ter, redis.Configuration, logs: logs);
        await using FleetMember second = FleetMember.Create(m3ter, redis.Configuration, logs: logs);

        Task<M3terToken> firstToken = first.Tokens.GetTokenAsync().AsTask();
        await Task.Delay(200);
        M3terToken secondToken = await second.Tokens.GetTokenAsync();
        Assert.True((await firstToken).AccessToken == secondToken.AccessToken, string.Join("\n", logs.Logs.Where(l => l.Category.StartsWith("M3ter.Auth", StringComparison.Ordinal)).Select(l => l.ToString())));
        await using FleetMember broken = FleetMember.Create(m3ter, $"127.0.0.1:{RedisServer.FreePort()}", o => o.ConnectTimeout = TimeSpan.FromMilliseconds(100));
        await broken.Tokens.GetTokenAsync();

        Assert.Equal(2, m3ter.TokenRequestCount); // the first process's and the broken one's; the second adopted
        Assert.True(seen.GetValueOrDefault("m3ter.auth.shared_cache.misses") >= 2, "misses");
        Assert.True(seen.GetValueOrDefault("m3ter.auth.shared_cache.hits") >= 1, "hits");
        Assert.True(seen.GetValueOrDefault("m3ter.auth.shared_cache.lease_waits") >= 1, "lease waits");
        Assert.True(seen.GetValueOrDefault("m3ter.auth.shared_cache.errors") >= 1, "errors");
    }

    [RedisFact]
    public async Task QuickStart_WithRedis_RunsAndSaysTheTokenIsShared()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        var output = new StringWriter();

        int exitCode = await QuickStart.QuickStartApp.RunAsync(output, new[] { "--redis", redis.Configuration });

        string text = output.ToString();
        Assert.True(exitCode == 0, text);
        Assert.Contains("shared:  tokens are shared through Redis", text, StringComparison.Ordinal);
        Assert.Contains("API calls made: 3; failed: 0", text, StringComparison.Ordinal);
        Assert.True(await RedisTokenCacheTests.CommandCountAsync(redis) >= 4, "the QuickStart did not use Redis (read, lease, read, write, release)");
    }
}
