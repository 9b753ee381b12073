using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using M3ter.Auth.TestSupport;
using Xunit.Abstractions;

namespace M3ter.Auth.StackExchangeRedis.Tests;

/// <summary>A fleet against one redis-server and the emulator: cold starts, revocations and Redis outages.</summary>
public sealed class FleetTests(ITestOutputHelper output)
{
    /// <summary>Starts 20 separate OS processes together; returns each one's milliseconds to its first token.</summary>
    private static async Task<(double[] Milliseconds, int DistinctTokens)> ColdStartProcessesAsync(M3terEmulator m3ter, string redis, int count = 20)
    {
        (double[] ms, string[] tokens, _) = await StartProbesAsync(m3ter, redis, count);
        return (ms, tokens.Distinct().Count());
    }

    /// <summary>Starts <paramref name="count"/> probe processes together; returns each one's milliseconds to its first token, its token's fingerprint, and its output line.</summary>
    private static async Task<(double[] Milliseconds, string[] Tokens, string[] Lines)> StartProbesAsync(M3terEmulator m3ter, string redis, int count)
    {
        // The probe runs from its own output folder (bin/<configuration>/net10.0, like this assembly's), with its own dependencies.
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string root = output.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        string probe = Path.Combine(root, "tests", "Tools", "M3ter.Auth.FleetProbe", "bin", output.Parent!.Name, output.Name, "M3ter.Auth.FleetProbe.dll");
        Assert.True(File.Exists(probe), $"the fleet probe is not built at {probe}");
        var processes = new List<Process>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var start = new ProcessStartInfo("dotnet")
                {
                    RedirectStandardInput = true,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                foreach (string arg in new[] { probe, m3ter.BaseAddress.ToString(), m3ter.AccessKeyId, m3ter.ApiSecret, redis })
                {
                    start.ArgumentList.Add(arg);
                }

                processes.Add(Process.Start(start)!);
            }

            // Every process has built its container; then all are let go at once.
            foreach (Process process in processes)
            {
                string? ready = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
                if (ready != "ready")
                {
                    Assert.Fail($"a probe said '{ready}': {await process.StandardError.ReadToEndAsync()}");
                }
            }

            foreach (Process process in processes)
            {
                await process.StandardInput.WriteLineAsync("go");
                await process.StandardInput.FlushAsync();
            }

            var results = new List<(string Token, double Ms, string Line)>();
            foreach (Process process in processes)
            {
                string? line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                if (process.ExitCode != 0 || line is null || !line.StartsWith("token ", StringComparison.Ordinal))
                {
                    Assert.Fail($"a probe failed: '{line}' {await process.StandardError.ReadToEndAsync()}");
                }

                string[] parts = line!.Split(' ');
                results.Add((parts[1], double.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), line));
            }

            return (results.Select(r => r.Ms).OrderBy(ms => ms).ToArray(), results.Select(r => r.Token).ToArray(), results.Select(r => r.Line).ToArray());
        }
        finally
        {
            foreach (Process process in processes)
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }

                process.Dispose();
            }
        }
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    [RedisFact]
    public async Task ColdFleet_TwentyProcessesStartingTogether_MakeAtMostTwoTokenRequests()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator shared = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        await using M3terEmulator alone = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });

        (double[] withCache, int tokens) = await ColdStartProcessesAsync(shared, redis.Configuration);
        (double[] without, _) = await ColdStartProcessesAsync(alone, "none");

        output.WriteLine($"with the Redis cache: {shared.TokenRequestCount} token request(s), {tokens} distinct token(s); time to first token p50 {Percentile(withCache, 0.5):F0} ms, p99 {Percentile(withCache, 0.99):F0} ms");
        output.WriteLine($"without it:           {alone.TokenRequestCount} token request(s); time to first token p50 {Percentile(without, 0.5):F0} ms, p99 {Percentile(without, 0.99):F0} ms");
        Assert.Equal(20, withCache.Length);
        Assert.InRange(shared.TokenRequestCount, 1, 2);
        Assert.InRange(tokens, 1, 2);
        Assert.Equal(20, alone.TokenRequestCount); // the control: each process alone makes its own request
    }

    [RedisFact]
    public async Task WarmFleet_ANewProcessTakesItsFirstTokenFromRedis_WithoutATokenRequest()
    {
        // One process of the fleet holds the token in Redis; new processes start one at a time (a scale-out, a
        // rolling deploy), against a second emulator for the same measurement without the cache.
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator shared = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        await using M3terEmulator alone = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        await using FleetMember holder = FleetMember.Create(shared, redis.Configuration);
        M3terToken held = await holder.Tokens.GetTokenAsync();
        string heldFingerprint = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(held.AccessToken)))[..16];

        var fromRedis = new List<double>();
        var fromEndpoint = new List<double>();
        var lines = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            (double[] ms, string[] tokens, string[] line) = await StartProbesAsync(shared, redis.Configuration, 1);
            Assert.Equal(heldFingerprint, tokens.Single());
            fromRedis.Add(ms.Single());
            lines.Add(line.Single());
            fromEndpoint.Add((await StartProbesAsync(alone, "none", 1)).Milliseconds.Single());
        }

        double Median(List<double> values) => values.OrderBy(v => v).ElementAt(values.Count / 2);
        double[] connect = lines.Select(l => double.Parse(l.Split(' ')[3], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        double[] roundTrip = lines.Select(l => double.Parse(l.Split(' ')[4], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        output.WriteLine($"a new process's first token, median of 5: from Redis {Median(fromRedis):F0} ms (0 token requests), from the endpoint without the cache {Median(fromEndpoint):F0} ms");
        output.WriteLine($"of the Redis time, once StackExchange.Redis is compiled: connect and one read {Median(connect.ToList()):F1} ms, one read {Median(roundTrip.ToList()):F2} ms; the rest is compiling and loading code");
        Assert.Equal(1, shared.TokenRequestCount); // the holder's only
        Assert.Equal(5, alone.TokenRequestCount);
    }

    [RedisFact]
    public async Task AllTokensRevokedMidRun_TheFleetRecoversWithAtMostTwoTokenRequests_AndNoFailedCall()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null, RecordRequests = false });
        FleetMember[] fleet = Enumerable.Range(0, 20).Select(_ => FleetMember.Create(m3ter, redis.Configuration)).ToArray();
        try
        {
            await Task.WhenAll(fleet.Select(m => m.Tokens.GetTokenAsync().AsTask()));
            int before = m3ter.TokenRequestCount;
            Assert.InRange(before, 1, 2);

            CallLoadResult load = await CallLoad.RunAsync(fleet.Length, i => fleet[i].CallAsync(m3ter), async () =>
            {
                await Task.Delay(500);
                m3ter.RevokeAllTokens();
                await Task.Delay(1500);
            });

            output.WriteLine($"{load.Calls} calls, {load.Failed} failed; token requests: {before} before the revocation, {m3ter.TokenRequestCount - before} after");
            Assert.True(load.Failed == 0, load.Describe());
            Assert.InRange(m3ter.TokenRequestCount - before, 1, 2);
            Assert.Equal(0, m3ter.ApiRequestsWithoutTokenCount);
        }
        finally
        {
            await Task.WhenAll(fleet.Select(m => m.DisposeAsync().AsTask()));
        }
    }

    [RedisFact]
    public async Task RedisNotRunningAtStart_TheFirstTokenComesFromTheEndpoint_AtMostTheConnectTimeoutLater()
    {
        int nothingThere = RedisServer.FreePort();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        await using FleetMember member = FleetMember.Create(m3ter, $"127.0.0.1:{nothingThere}", o => o.ConnectTimeout = TimeSpan.FromMilliseconds(500));
        await using FleetMember control = FleetMember.Create(m3ter, redis: null);
        await control.Tokens.GetTokenAsync(); // the endpoint and the HTTP stack warmed up, so only the cache's cost is left

        var clock = Stopwatch.StartNew();
        using HttpResponseMessage response = await member.CallAsync(m3ter);
        TimeSpan elapsed = clock.Elapsed;

        output.WriteLine($"first call with Redis not running: {elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(elapsed < TimeSpan.FromMilliseconds(500) + TimeSpan.FromMilliseconds(750), $"the first call took {elapsed}");
        Assert.Equal(2, m3ter.TokenRequestCount);
    }

    [RedisFact]
    public async Task RedisKilledWhileEightWorkersCall_NoCallFails()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null, TokenLifetime = TimeSpan.FromSeconds(3), RecordRequests = false });
        FleetMember[] fleet = Enumerable.Range(0, 8).Select(_ => FleetMember.Create(m3ter, redis.Configuration)).ToArray();
        try
        {
            var (calls, failed, slowest, failures) = await CallLoad.RunAsync(fleet.Length, i => fleet[i].CallAsync(m3ter), pause: TimeSpan.FromMilliseconds(5), during: async () =>
            {
                await Task.Delay(1000);
                await redis.KillAsync(); // SIGKILL
                await Task.Delay(500);
                m3ter.RevokeAllTokens(); // every member now needs a token while Redis is gone
                await Task.Delay(3500);  // and refreshes of 3-second tokens fall due
            });

            output.WriteLine($"{calls} calls, {failed} failed, slowest {slowest.TotalMilliseconds:F0} ms, {m3ter.TokenRequestCount} token requests");
            Assert.True(failed == 0, string.Join("; ", failures));
            Assert.True(calls > 100, $"only {calls} calls");
            Assert.Equal(0, m3ter.ApiRequestsWithoutTokenCount);
        }
        finally
        {
            await Task.WhenAll(fleet.Select(m => m.DisposeAsync().AsTask()));
        }
    }

    [RedisFact]
    public async Task RedisPausedForThreeSeconds_NoCallFails_AndNoCallWaitsLongerThanTheTimeoutPlusTheLeaseWait()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null, TokenLifetime = TimeSpan.FromSeconds(3), RecordRequests = false });
        FleetMember[] fleet = Enumerable.Range(0, 8).Select(_ => FleetMember.Create(m3ter, redis.Configuration)).ToArray();
        try
        {
            await Task.WhenAll(fleet.Select(m => m.Tokens.GetTokenAsync().AsTask()));
            var (calls, failed, slowest, failures) = await CallLoad.RunAsync(fleet.Length, i => fleet[i].CallAsync(m3ter), pause: TimeSpan.FromMilliseconds(5), during: async () =>
            {
                await Task.Delay(500);
                Assert.StartsWith("+OK", await redis.CommandAsync("CLIENT", "PAUSE", "3000"), StringComparison.Ordinal);
                m3ter.RevokeAllTokens(); // every member needs a token while Redis does not answer
                await Task.Delay(4000);
            });

            var options = new M3terRedisTokenCacheOptions();
            TimeSpan bound = options.OperationTimeout + options.LeaseWaitTimeout + TimeSpan.FromSeconds(1);
            output.WriteLine($"{calls} calls, {failed} failed, slowest {slowest.TotalMilliseconds:F0} ms (bound {bound.TotalMilliseconds:F0} ms), {m3ter.TokenRequestCount} token requests");
            Assert.True(failed == 0, string.Join("; ", failures));
            Assert.True(slowest < bound, $"a call took {slowest}");
            Assert.Equal(0, m3ter.ApiRequestsWithoutTokenCount);
        }
        finally
        {
            await Task.WhenAll(fleet.Select(m => m.DisposeAsync().AsTask()));
        }
    }

    [RedisFact]
    public async Task RedisRestarted_TheSharedCacheIsUsedAgainWithinAMinute()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        await using FleetMember member = FleetMember.Create(m3ter, redis.Configuration, o => o.BreakDuration = TimeSpan.FromSeconds(5));
        await member.Tokens.GetTokenAsync();

        await redis.KillAsync();
        member.Tokens.Invalidate(await member.Tokens.GetTokenAsync());
        await member.Tokens.GetTokenAsync(); // Redis is down: fetched directly, the breaker opens
        Assert.NotNull(member.Cache!.Unavailable);
        await redis.RestartAsync();           // empty, on the same port

        var clock = Stopwatch.StartNew();
        int shared = 0;
        while (clock.Elapsed < TimeSpan.FromMinutes(1))
        {
            member.Tokens.Invalidate(await member.Tokens.GetTokenAsync());
            await member.Tokens.GetTokenAsync();
            shared = (int)await RedisTokenCacheTests.CommandCountAsync(redis);
            if (shared > 0 && member.Cache.Unavailable is null)
            {
                break;
            }

            await Task.Delay(500);
        }

        output.WriteLine($"the shared cache was used again {clock.Elapsed.TotalSeconds:F1} s after the restart");
        Assert.True(shared > 0 && member.Cache.Unavailable is null, "the shared cache was not used again within a minute");

        // And a new process adopts the token now shared, without a request of its own.
        await using FleetMember newcomer = FleetMember.Create(m3ter, redis.Configuration);
        int requests = m3ter.TokenRequestCount;
        await newcomer.Tokens.GetTokenAsync();
        Assert.Equal(requests, m3ter.TokenRequestCount);
    }
}
