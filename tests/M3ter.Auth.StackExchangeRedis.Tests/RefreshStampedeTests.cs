using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using M3ter.Auth.TestSupport;
using Xunit.Abstractions;

namespace M3ter.Auth.StackExchangeRedis.Tests;

/// <summary>Refresh without a stampede: 20 processes, 20-second tokens, for more than three token lifetimes (about 65 s).</summary>
public sealed class RefreshStampedeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(20);

    [RedisFact]
    public async Task TwentyProcesses_RefreshingTogether_MakeAtMostTwoTokenRequestsPerCycle_WithNoFailedCall()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null, MaxRecordedRequests = 1_000_000, TokenLifetime = Lifetime });
        FleetMember[] fleet = Enumerable.Range(0, 20).Select(_ => FleetMember.Create(m3ter, redis.Configuration)).ToArray();
        try
        {
            await Task.WhenAll(fleet.Select(m => m.Tokens.GetTokenAsync().AsTask()));
            // 20 callers at 20 calls a second each: enough to see every token in use.
            CallLoadResult load = await CallLoad.RunAsync(fleet.Length, i => fleet[i].CallAsync(m3ter), () => Task.Delay(Lifetime * 3 + TimeSpan.FromSeconds(5)), TimeSpan.FromMilliseconds(50));

            // Token requests come in bursts, one per refresh cycle (each process refreshes halfway through the token's
            // life, up to 10% earlier at random): split them where more than 3 s pass without one.
            DateTimeOffset[] requests = m3ter.Requests.Where(r => r.Kind == M3terRequestKind.Token).Select(r => r.ReceivedAt).OrderBy(t => t).ToArray();
            var cycles = requests.Skip(1).Aggregate(
                new System.Collections.Generic.List<System.Collections.Generic.List<DateTimeOffset>> { new() { requests[0] } },
                (list, at) =>
                {
                    if (at - list[^1][^1] > TimeSpan.FromSeconds(3))
                    {
                        list.Add(new());
                    }

                    list[^1].Add(at);
                    return list;
                });
            output.WriteLine($"{load.Calls} calls, {load.Failed} failed; {requests.Length} token requests in {cycles.Count} cycles: {string.Join(", ", cycles.Select(c => c.Count))}");
            Assert.True(load.Failed == 0, load.Describe());
            Assert.Equal(0, m3ter.ApiRequestsWithoutTokenCount);
            Assert.True(cycles.Count >= 6, $"only {cycles.Count} refresh cycles in more than three 20-second lifetimes");
            Assert.All(cycles, cycle => Assert.InRange(cycle.Count, 1, 2));
        }
        finally
        {
            await Task.WhenAll(fleet.Select(m => m.DisposeAsync().AsTask()));
        }
    }
}
