using System;
using System.Diagnostics;
using System.Linq;
using System.Net;
using System.Text;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace M3ter.Auth.StackExchangeRedis.Tests;

/// <summary>
/// A refusal of the credentials shared through Redis as the token is: sealed like the token, gone when a token is
/// written or its time is up, and read by a fleet whose lease holder was refused, so its waiters fail together instead
/// of taking the lease one after another and each being refused in turn.
/// </summary>
public sealed class SharedRejectionRedisTests(ITestOutputHelper output)
{
    private static readonly Uri Base = RedisTokenCacheTests.Base;

    private static SharedRejection Refusal(TimeSpan lasting)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return new SharedRejection(HttpStatusCode.Unauthorized, "invalid_client", now, now + lasting);
    }

    [RedisFact]
    public async Task ARefusal_RoundTrips_Sealed_AndIsGoneOnceATokenIsWritten()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using var cache = new M3terRedisTokenCache(new M3terRedisTokenCacheOptions { Configuration = redis.Configuration });
        var scope = new SharedTokenScope(Base, RedisTokenCacheTests.KeyId, RedisTokenCacheTests.Secret);
        Assert.Null(await cache.ReadRejectionAsync(scope));

        SharedRejection written = Refusal(TimeSpan.FromSeconds(30));
        await cache.WriteRejectionAsync(scope, written);
        SharedRejection? read = await cache.ReadRejectionAsync(scope);

        Assert.NotNull(read);
        Assert.Equal(written.StatusCode, read.StatusCode);
        Assert.Equal(written.Error, read.Error);
        Assert.Equal(written.RefusedAt, read.RefusedAt);
        Assert.Equal(written.Until, read.Until);
        Assert.Null(await cache.ReadRejectionAsync(new SharedTokenScope(Base, RedisTokenCacheTests.KeyId, "another-secret"))); // a rotated secret is not refused

        await using ConnectionMultiplexer mux = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        IDatabase db = mux.GetDatabase();
        RedisKey key = mux.GetServer(mux.GetEndPoints()[0]).Keys(pattern: "*:refused").Single();
        byte[] value = (await db.HashGetAsync(key, "v"))!;
        string text = Encoding.Latin1.GetString(value);
        Assert.DoesNotContain("invalid_client", text, StringComparison.Ordinal);
        Assert.DoesNotContain(RedisTokenCacheTests.KeyId, text, StringComparison.Ordinal);
        TimeSpan? ttl = await db.KeyTimeToLiveAsync(key);
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(30)); // it ends when the refusing process stops remembering it

        value[^1] ^= 0x55;
        await db.HashSetAsync(key, "v", value);
        Assert.Null(await cache.ReadRejectionAsync(scope)); // tampered: no refusal
        await cache.WriteRejectionAsync(scope, written);
        Assert.NotNull(await cache.ReadRejectionAsync(scope));
        await db.HashSetAsync(key, "at", "1"); // when it was made is bound to it
        Assert.Null(await cache.ReadRejectionAsync(scope));
        await cache.WriteRejectionAsync(scope, written);

        await cache.WriteIfNewerAsync(scope, new M3terToken("works-again", "Bearer", DateTimeOffset.UtcNow.AddHours(5), DateTimeOffset.UtcNow));
        Assert.Null(await cache.ReadRejectionAsync(scope)); // the credentials work again
        Assert.False(await db.KeyExistsAsync(key));
    }

    [RedisFact]
    public async Task ARefusalWrittenBack_AfterANewerTokenWasWritten_IsNoRefusal_EvenToAProcessThatNeverSawTheToken()
    {
        // Someone with write access to Redis keeps a refusal's bytes and writes them back, without an expiry, after the
        // key was re-enabled and a token written: a replay. It must not block the fleet (until 9999, here).
        await using RedisServer redis = await RedisServer.StartAsync();
        await using var cache = new M3terRedisTokenCache(new M3terRedisTokenCacheOptions { Configuration = redis.Configuration });
        var scope = new SharedTokenScope(Base, RedisTokenCacheTests.KeyId, RedisTokenCacheTests.Secret);
        DateTimeOffset refusedAt = DateTimeOffset.UtcNow.AddSeconds(-10);
        await cache.WriteRejectionAsync(scope, new SharedRejection(HttpStatusCode.Unauthorized, "invalid_client", refusedAt, DateTimeOffset.MaxValue));
        await using ConnectionMultiplexer mux = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        IDatabase db = mux.GetDatabase();
        RedisKey key = mux.GetServer(mux.GetEndPoints()[0]).Keys(pattern: "*:refused").Single();
        HashEntry[] copy = await db.HashGetAllAsync(key);

        await cache.WriteIfNewerAsync(scope, new M3terToken("works-again", "Bearer", DateTimeOffset.UtcNow.AddHours(5), DateTimeOffset.UtcNow));
        Assert.False(await db.KeyExistsAsync(key));
        await db.HashSetAsync(key, copy); // written back, with no expiry at all

        Assert.Null(await cache.ReadRejectionAsync(scope)); // this process saw the newer token
        await using var newProcess = new M3terRedisTokenCache(new M3terRedisTokenCacheOptions { Configuration = redis.Configuration });
        Assert.Null(await newProcess.ReadRejectionAsync(new SharedTokenScope(Base, RedisTokenCacheTests.KeyId, RedisTokenCacheTests.Secret))); // Redis holds the newer token
    }

    [RedisFact]
    public async Task ARefusalThatArrivesAfterANewerToken_IsNotWritten_AndOneReadBackLastsADayAtMost()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using var writer = new M3terRedisTokenCache(new M3terRedisTokenCacheOptions { Configuration = redis.Configuration });
        var scope = new SharedTokenScope(Base, RedisTokenCacheTests.KeyId, RedisTokenCacheTests.Secret);
        DateTimeOffset now = DateTimeOffset.UtcNow;
        await writer.WriteIfNewerAsync(scope, new M3terToken("issued-now", "Bearer", now.AddHours(5), now));

        // A slow process's refusal, made 5 s before that token was issued, arrives now.
        await writer.WriteRejectionAsync(scope, new SharedRejection(HttpStatusCode.Unauthorized, null, now.AddSeconds(-5), now.AddHours(1)));
        await using ConnectionMultiplexer mux = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        Assert.Empty(mux.GetServer(mux.GetEndPoints()[0]).Keys(pattern: "*:refused"));

        // A refusal claiming to last until 9999 is read back as lasting a day from when it was made.
        await mux.GetDatabase().KeyDeleteAsync(mux.GetServer(mux.GetEndPoints()[0]).Keys(pattern: "*:token").Single());
        await writer.WriteRejectionAsync(scope, new SharedRejection(HttpStatusCode.Unauthorized, null, now.AddSeconds(1), DateTimeOffset.MaxValue));
        await using var reader = new M3terRedisTokenCache(new M3terRedisTokenCacheOptions { Configuration = redis.Configuration });
        SharedRejection? read = await reader.ReadRejectionAsync(new SharedTokenScope(Base, RedisTokenCacheTests.KeyId, RedisTokenCacheTests.Secret));
        Assert.NotNull(read);
        Assert.Equal(read.RefusedAt + TimeSpan.FromDays(1), read.Until);
    }

    [RedisFact]
    public async Task ColdFleetWithARefusedSecret_FailsTogether_AfterOneTokenRequest()
    {
        // Twenty processes start together with a secret m3ter refuses, and the token endpoint takes 500 ms to say so.
        // Without a shared refusal, each waiter took the lease in turn and was refused in turn (p50 3.1 s, max 6.2 s,
        // 20 token requests); with it, the waiters fail at their next poll after the holder.
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        m3ter.EnqueueTokenFault(M3terFault.Slow(TimeSpan.FromMilliseconds(500)));
        FleetMember[] fleet = Enumerable.Range(0, 20)
            .Select(_ => FleetMember.Create(m3ter, redis.Configuration, auth: o => o.ApiSecret = "a-secret-m3ter-refuses-0123456789"))
            .ToArray();
        try
        {
            var clock = Stopwatch.StartNew();
            var failures = await Task.WhenAll(fleet.Select(async member =>
            {
                M3terAuthException refused = await Assert.ThrowsAsync<M3terAuthException>(() => member.Tokens.GetTokenAsync().AsTask());
                return (Refused: refused, Milliseconds: clock.Elapsed.TotalMilliseconds);
            }));

            double[] times = failures.Select(f => f.Milliseconds).Order().ToArray();
            output.WriteLine($"{m3ter.TokenRequestCount} token request(s); failed at p50 {times[times.Length / 2]:F0} ms, max {times[^1]:F0} ms");
            Assert.All(failures, f => Assert.True(f.Refused.IsCredentialRejection, f.Refused.Message));
            Assert.All(failures, f => Assert.DoesNotContain("a-secret-m3ter-refuses", f.Refused.ToString(), StringComparison.Ordinal));
            Assert.InRange(m3ter.TokenRequestCount, 1, 2);
        }
        finally
        {
            foreach (FleetMember member in fleet)
            {
                await member.DisposeAsync();
            }
        }
    }
}
