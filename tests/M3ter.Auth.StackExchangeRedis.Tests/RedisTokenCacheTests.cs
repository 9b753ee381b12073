using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis.Tests;

/// <summary>The Redis cache against a real redis-server: what it stores, how it protects it, and how it fails.</summary>
public sealed class RedisTokenCacheTests
{
    internal const string Secret = "redis-test-secret-0123456789abcdef";
    internal const string KeyId = "redis-test-key-id";
    internal static readonly Uri Base = new("https://api.m3ter.com/");

    private static M3terRedisTokenCache Cache(RedisServer redis, Action<M3terRedisTokenCacheOptions>? configure = null, ILogger<M3terRedisTokenCache>? logger = null)
    {
        var options = new M3terRedisTokenCacheOptions { Configuration = redis.Configuration };
        configure?.Invoke(options);
        return new M3terRedisTokenCache(options, logger: logger);
    }

    private static M3terToken Token(string value, TimeSpan lifetime)
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return new M3terToken(value, "Bearer", now + lifetime, now);
    }

    private static async Task<Dictionary<string, Dictionary<string, byte[]>>> DumpAsync(RedisServer redis)
    {
        await using ConnectionMultiplexer mux = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        IServer server = mux.GetServer(mux.GetEndPoints()[0]);
        IDatabase db = mux.GetDatabase();
        var dump = new Dictionary<string, Dictionary<string, byte[]>>();
        foreach (RedisKey key in server.Keys(pattern: "*"))
        {
            dump[key!] = (await db.KeyTypeAsync(key)) == RedisType.Hash
                ? (await db.HashGetAllAsync(key)).ToDictionary(e => (string)e.Name!, e => (byte[])e.Value!)
                : new Dictionary<string, byte[]> { ["(string)"] = (byte[])(await db.StringGetAsync(key))! };
        }

        return dump;
    }

    private static IEnumerable<string> Encodings(string secret)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(secret);
        yield return secret;
        yield return Convert.ToBase64String(bytes).TrimEnd('=');
        yield return Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        yield return Convert.ToHexString(bytes);
    }

    [RedisFact]
    public async Task Entry_NeverContainsTheKeyIdTheSecretOrTheToken_InPlaintextOrBase64()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terRedisTokenCache cache = Cache(redis);
        var scope = new SharedTokenScope(Base, KeyId, Secret);
        M3terToken token = Token("eyJhbGciOiJSUzI1NiJ9.the-secret-token-value.signature", TimeSpan.FromHours(5));

        Assert.True(await cache.TryAcquireLeaseAsync(scope));
        await cache.WriteIfNewerAsync(scope, token);
        Dictionary<string, Dictionary<string, byte[]>> dump = await DumpAsync(redis);

        Assert.Equal(2, dump.Count); // the token's hash and the lease
        string everything = string.Join("\n", dump.Select(e => e.Key + "=" + string.Join(",", e.Value.Select(f => f.Key + ":" + Encoding.Latin1.GetString(f.Value)))));
        foreach (string forbidden in new[] { KeyId, Secret, token.AccessToken, "the-secret-token-value", Base.Host }.SelectMany(Encodings))
        {
            Assert.DoesNotContain(forbidden, everything, StringComparison.Ordinal);
        }

        string tokenKey = Assert.Single(dump.Keys, k => k.EndsWith(":token", StringComparison.Ordinal));
        string leaseKey = Assert.Single(dump.Keys, k => k.EndsWith(":lease", StringComparison.Ordinal));
        Assert.StartsWith("m3ter-auth:{", tokenKey, StringComparison.Ordinal);
        Assert.Equal(tokenKey[..tokenKey.IndexOf('}', StringComparison.Ordinal)], leaseKey[..leaseKey.IndexOf('}', StringComparison.Ordinal)]); // one cluster slot
        Assert.Equal(ScopeFormat.Version, dump[tokenKey]["v"][0]); // format version first
        Assert.Equal(token.AccessToken, (await cache.ReadAsync(scope))!.AccessToken);
    }

    [RedisFact]
    public async Task Entry_TwoWritesOfTheSameToken_AreDifferentCiphertexts_RandomNonce()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terRedisTokenCache cache = Cache(redis);
        var scope = new SharedTokenScope(Base, KeyId, Secret);
        M3terToken token = Token("same-token", TimeSpan.FromHours(5));

        await cache.WriteIfNewerAsync(scope, token);
        byte[] first = (await DumpAsync(redis)).Values.Single()["v"];
        await redis.CommandAsync("FLUSHALL");
        await cache.WriteIfNewerAsync(scope, token);
        byte[] second = (await DumpAsync(redis)).Values.Single()["v"];

        Assert.NotEqual(first, second);
    }

    [RedisFact]
    public async Task Entry_TtlFollowsTheTokensExpiryLessAMargin()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terRedisTokenCache cache = Cache(redis);
        var scope = new SharedTokenScope(Base, KeyId, Secret);

        await cache.WriteIfNewerAsync(scope, Token("five-hours", TimeSpan.FromHours(5)));
        await using ConnectionMultiplexer mux = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        string key = (await DumpAsync(redis)).Keys.Single();
        TimeSpan ttl = (await mux.GetDatabase().KeyTimeToLiveAsync(key))!.Value;

        Assert.InRange(ttl, TimeSpan.FromHours(5) - TimeSpan.FromMinutes(1) - TimeSpan.FromSeconds(5), TimeSpan.FromHours(5) - TimeSpan.FromMinutes(1));

        await redis.CommandAsync("FLUSHALL");
        await cache.WriteIfNewerAsync(scope, Token("twenty-seconds", TimeSpan.FromSeconds(20)));
        ttl = (await mux.GetDatabase().KeyTimeToLiveAsync(key))!.Value;
        Assert.InRange(ttl, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(18)); // a tenth of a short life, not a minute
    }

    [RedisFact]
    public async Task WriteIfNewer_KeepsTheTokenThatExpiresLater()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terRedisTokenCache cache = Cache(redis);
        var scope = new SharedTokenScope(Base, KeyId, Secret);

        await cache.WriteIfNewerAsync(scope, Token("later", TimeSpan.FromHours(5)));
        await cache.WriteIfNewerAsync(scope, Token("sooner", TimeSpan.FromHours(4)));

        Assert.Equal("later", (await cache.ReadAsync(scope))!.AccessToken);
    }

    [RedisFact]
    public async Task RemoveIfHolds_DeletesOnlyThatToken()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terRedisTokenCache cache = Cache(redis);
        var scope = new SharedTokenScope(Base, KeyId, Secret);
        M3terToken current = Token("current", TimeSpan.FromHours(5));
        await cache.WriteIfNewerAsync(scope, current);

        await cache.RemoveIfHoldsAsync(scope, Token("some-older-token", TimeSpan.FromHours(1)));
        Assert.Equal("current", (await cache.ReadAsync(scope))!.AccessToken);

        await cache.RemoveIfHoldsAsync(scope, current);
        Assert.Null(await cache.ReadAsync(scope));
    }

    [RedisFact]
    public async Task Lease_IsExclusive_AndReleasedOnlyByItsOwner()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terRedisTokenCache cache = Cache(redis);
        var one = new SharedTokenScope(Base, KeyId, Secret);
        var two = new SharedTokenScope(Base, KeyId, Secret);

        Assert.True(await cache.TryAcquireLeaseAsync(one));
        Assert.False(await cache.TryAcquireLeaseAsync(two));
        await cache.ReleaseLeaseAsync(two); // not the owner: nothing happens
        Assert.False(await cache.TryAcquireLeaseAsync(two));
        await cache.ReleaseLeaseAsync(one);
        Assert.True(await cache.TryAcquireLeaseAsync(two));
    }

    [RedisFact]
    public async Task TamperedOrGarbageEntry_IsAMiss_LoggedWithoutSecrets_NeverAnException()
    {
        await using SeededRedis seeded = await SeededRedis.StartAsync();
        (M3terRedisTokenCache cache, CapturingLoggerProvider logs, SharedTokenScope scope, string key, IDatabase db) = (seeded.Cache, seeded.Logs, seeded.Scope, seeded.TokenKey, seeded.Db);

        byte[] value = (await db.HashGetAsync(key, "v"))!;
        value[^1] ^= 0x55; // one flipped bit in the ciphertext
        await db.HashSetAsync(key, "v", value);
        Assert.Null(await cache.ReadAsync(scope));

        await db.HashSetAsync(key, "v", Encoding.UTF8.GetBytes("garbage"));
        Assert.Null(await cache.ReadAsync(scope));

        await cache.WriteIfNewerAsync(scope, Token("genuine-2", TimeSpan.FromHours(6)));
        await db.HashSetAsync(key, "exp", "99999999999999"); // a longer expiry, but the ciphertext is bound to the real one
        Assert.Null(await cache.ReadAsync(scope));

        Assert.Contains(logs.Logs, l => l.EventId.Name == "RedisEntryUnreadable");
        Assert.DoesNotContain("genuine", logs.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, logs.AllText, StringComparison.Ordinal);
    }

    [RedisFact]
    public async Task UnreadableEntryClaimingALaterExpiry_IsReplacedByTheNextWrite_AndLoggedOnce()
    {
        // Without the override, the garbage's far expiry would win every write-if-newer until Redis expired it.
        await using SeededRedis seeded = await SeededRedis.StartAsync();
        (M3terRedisTokenCache cache, CapturingLoggerProvider logs, SharedTokenScope scope, string key, IDatabase db) = (seeded.Cache, seeded.Logs, seeded.Scope, seeded.TokenKey, seeded.Db);
        await db.HashSetAsync(key, [new HashEntry("exp", "99999999999999"), new HashEntry("v", "garbage")]);

        for (int i = 0; i < 5; i++)
        {
            Assert.Null(await cache.ReadAsync(scope));
        }

        await cache.WriteIfNewerAsync(scope, Token("next", TimeSpan.FromHours(5)));

        Assert.Equal("next", (await cache.ReadAsync(scope))?.AccessToken);
        Assert.Single(logs.Logs, l => l.EventId.Name == "RedisEntryUnreadable");
        Assert.Null(cache.Unavailable);
    }

    [RedisFact]
    public async Task KeysOfAnotherTypeAtOurNames_AreMisses_NeverOpenTheBreaker_AndAreReplaced()
    {
        // A WRONGTYPE error on every call would keep the breaker open, and the fleet uncoordinated, for good.
        await using SeededRedis seeded = await SeededRedis.StartAsync();
        (M3terRedisTokenCache cache, SharedTokenScope scope, string tokenKey, IDatabase db) = (seeded.Cache, seeded.Scope, seeded.TokenKey, seeded.Db);
        string leaseKey = tokenKey.Replace(":token", ":lease", StringComparison.Ordinal);
        await db.KeyDeleteAsync(tokenKey);
        await db.ListLeftPushAsync(tokenKey, "not a token");
        await db.StringSetAsync(leaseKey, "left by someone, with no expiry");

        Assert.Null(await cache.ReadAsync(scope));
        await cache.RemoveIfHoldsAsync(scope, Token("genuine", TimeSpan.FromHours(5)));
        Assert.True(await cache.TryAcquireLeaseAsync(scope));
        await cache.WriteIfNewerAsync(scope, Token("next", TimeSpan.FromHours(5)));
        await cache.ReleaseLeaseAsync(scope);

        Assert.Equal("next", (await cache.ReadAsync(scope))?.AccessToken);
        Assert.False(await db.KeyExistsAsync(leaseKey));
        await db.KeyDeleteAsync(leaseKey);
        await db.SetAddAsync(leaseKey, "a set");
        Assert.True(await cache.TryAcquireLeaseAsync(new SharedTokenScope(Base, KeyId, Secret)));
        Assert.Null(cache.Unavailable);
    }

    [RedisFact]
    public async Task Lease_TakenAgainByItsHolder_IsExtended_NotRefused()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terRedisTokenCache cache = Cache(redis, o => o.LeaseDuration = TimeSpan.FromSeconds(5));
        var holder = new SharedTokenScope(Base, KeyId, Secret);

        Assert.True(await cache.TryAcquireLeaseAsync(holder));
        Assert.True(await cache.TryAcquireLeaseAsync(holder));
        Assert.False(await cache.TryAcquireLeaseAsync(new SharedTokenScope(Base, KeyId, Secret)));
    }

    [RedisFact]
    public async Task AfterABreak_OneCallProbesRedis_TheOthersStayMisses_AndAFailedProbeReopensTheBreaker()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var cache = new M3terRedisTokenCache(
            new M3terRedisTokenCacheOptions { Configuration = redis.Configuration, OperationTimeout = TimeSpan.FromMilliseconds(250), BreakDuration = TimeSpan.FromSeconds(10) },
            time);
        var scope = new SharedTokenScope(Base, KeyId, Secret);
        Assert.Null(await cache.ReadAsync(scope)); // connected, and answered once
        long before = await CommandCountAsync(redis);

        await redis.CommandAsync("CLIENT", "PAUSE", "3000", "ALL"); // Redis stops answering for 3 s
        ValueTask<M3terToken?> tripping = cache.ReadAsync(scope);
        time.Advance(TimeSpan.FromMilliseconds(250));
        Assert.Null(await tripping); // a miss for its caller at the operation timeout
        Assert.Null(cache.Unavailable); // slow is not dead: no break yet
        time.Advance(TimeSpan.FromMilliseconds(750)); // still unanswered at the hard bound (four operation timeouts)
        await WaitUntilAsync(() => cache.Unavailable is not null);

        time.Advance(TimeSpan.FromSeconds(10)); // the break is over
        Task<M3terToken?>[] reads = Enumerable.Range(0, 20).Select(_ => cache.ReadAsync(scope).AsTask()).ToArray();
        Assert.Equal(19, reads.Count(r => r.IsCompleted)); // one probe goes to Redis; the rest are misses at once
        time.Advance(TimeSpan.FromMilliseconds(250));
        Assert.All(await Task.WhenAll(reads), Assert.Null);
        Task<M3terToken?> another = cache.ReadAsync(scope).AsTask();
        Assert.True(another.IsCompleted); // the probe is still out: a miss at once, no second probe
        time.Advance(TimeSpan.FromMilliseconds(750));
        await WaitUntilAsync(() => cache.Unavailable is not null); // the probe failed: another break

        // Answered when the pause ends: the tripping call and the probe. Redis serves the clients it paused in no set
        // order, so our INFO may run before the cache's two calls: wait for them, then read once more for any third.
        long answered = 0;
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); answered < 2 && waited.Elapsed < TimeSpan.FromSeconds(10); await Task.Delay(50))
        {
            answered = await CommandCountAsync(redis) - before;
        }

        Assert.Equal(2, answered);
        Assert.Equal(2, await CommandCountAsync(redis) - before);
    }

    [RedisFact]
    public async Task AnotherSecret_CannotReachOrReadTheEntry_AndAppsSharingRedisNeverCollide()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terRedisTokenCache cache = Cache(redis);
        var original = new SharedTokenScope(Base, KeyId, Secret);
        await cache.WriteIfNewerAsync(original, Token("written-under-the-old-secret", TimeSpan.FromHours(5)));

        Assert.Null(await cache.ReadAsync(new SharedTokenScope(Base, KeyId, Secret + "-rotated")));
        Assert.Null(await cache.ReadAsync(new SharedTokenScope(Base, "another-key", Secret)));
        Assert.Null(await cache.ReadAsync(new SharedTokenScope(new Uri("https://api.eu.m3ter.com/"), KeyId, Secret)));
        Assert.NotNull(await cache.ReadAsync(new SharedTokenScope(Base, KeyId, Secret)));
    }

    [RedisFact]
    public async Task Constructor_MakesNoConnection()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        int before = ConnectedClients(await redis.CommandAsync("INFO", "clients"));

        await using M3terRedisTokenCache cache = Cache(redis);
        await Task.Delay(200);

        Assert.Equal(before, ConnectedClients(await redis.CommandAsync("INFO", "clients")));
    }

    private static int ConnectedClients(string info) =>
        int.Parse(info.Split('\n').Single(l => l.StartsWith("connected_clients:", StringComparison.Ordinal))["connected_clients:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void Options_AreValidatedOnStart_NamingTheSetting()
    {
        var services = new ServiceCollection();
        services.AddM3terAuthRedisTokenCache(o => { o.OperationTimeout = TimeSpan.Zero; o.KeyPrefix = "bad{prefix}"; });
        using ServiceProvider sp = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("M3terRedisTokenCacheOptions.Configuration or M3terRedisTokenCacheOptions.ConnectionMultiplexerFactory is required", error.Message, StringComparison.Ordinal);
        Assert.Contains("M3terRedisTokenCacheOptions.OperationTimeout must be positive", error.Message, StringComparison.Ordinal);
        Assert.Contains("M3terRedisTokenCacheOptions.KeyPrefix must not contain", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new M3terRedisTokenCache(new M3terRedisTokenCacheOptions()));
    }

    [Fact]
    public void Options_ValidationNeverEchoesTheConfigurationString()
    {
        var services = new ServiceCollection();
        services.AddM3terAuthRedisTokenCache(o => { o.Configuration = "redis:6379,password=hunter2-secret"; o.BreakDuration = TimeSpan.FromHours(1); });
        using ServiceProvider sp = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("M3terRedisTokenCacheOptions.BreakDuration", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }

    [RedisFact]
    public async Task Registration_AppliesToDefaultAndNamedRegistrations()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        var services = new ServiceCollection();
        services.AddM3terAuth(m3ter.Configure);
        services.AddM3terAuth("other", m3ter.Configure);
        services.AddM3terAuthRedisTokenCache(o => o.Configuration = redis.Configuration);
        await using ServiceProvider sp = services.BuildServiceProvider();

        M3terToken viaDefault = await sp.GetRequiredService<ITokenProvider>().GetTokenAsync();
        M3terToken viaNamed = await sp.GetRequiredKeyedService<ITokenProvider>("other").GetTokenAsync();

        Assert.Equal(viaDefault.AccessToken, viaNamed.AccessToken); // same credentials: the named one adopted the shared token
        Assert.Equal(1, m3ter.TokenRequestCount);
    }

    [RedisFact]
    public async Task PreIssuedToken_NeverGoesToRedis()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        string preIssued = m3ter.CreatePreIssuedToken(TimeSpan.FromHours(1));
        var services = new ServiceCollection();
        services.AddM3terAuth(o => { o.BaseAddress = m3ter.BaseAddress; o.AccessToken = preIssued; });
        services.AddM3terAuthRedisTokenCache(o => o.Configuration = redis.Configuration);
        services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();
        long commandsBefore = await CommandCountAsync(redis);

        using HttpResponseMessage response = await sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter")
            .GetAsync(new Uri($"organizations/{m3ter.OrganizationId}", UriKind.Relative));

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(await DumpAsync(redis));
        Assert.Equal(commandsBefore, await CommandCountAsync(redis));
    }

    [RedisFact]
    public async Task WarmPath_SendsNoCommandToRedis()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        var services = new ServiceCollection();
        services.AddM3terAuth(m3ter.Configure);
        services.AddM3terAuthRedisTokenCache(o => o.Configuration = redis.Configuration);
        services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();
        HttpClient api = sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");
        await api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}", UriKind.Relative));
        long before = await CommandCountAsync(redis);

        for (int i = 0; i < 200; i++)
        {
            using HttpResponseMessage response = await api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative));
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        }

        long after = await CommandCountAsync(redis);
        Assert.Equal(before, after);
        Assert.Equal(1, m3ter.TokenRequestCount);
    }

    /// <summary>How many Lua scripts the server ran (INFO commandstats): every call the cache makes is one, and nothing else runs any.</summary>
    internal static async Task<long> CommandCountAsync(RedisServer redis)
    {
        string stats = await redis.CommandAsync("INFO", "commandstats");
        return stats.Split('\n')
            .Where(line => line.StartsWith("cmdstat_eval:", StringComparison.Ordinal) || line.StartsWith("cmdstat_evalsha:", StringComparison.Ordinal))
            .Sum(line => long.Parse(line.Split(':')[1].Split(',')[0]["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture));
    }

    [RedisFact]
    public async Task DeadRedis_CostsOneTimeoutPerBreakerPeriod_AndTheHealthCheckSaysDegraded()
    {
        int deadPort = RedisServer.FreePort(); // nothing listens there
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddM3terAuth(m3ter.Configure);
        services.AddM3terAuthRedisTokenCache(o => { o.Configuration = $"127.0.0.1:{deadPort},connectTimeout=200"; o.BreakDuration = TimeSpan.FromSeconds(10); });
        services.AddHealthChecks().AddCheck<M3terAuthHealthCheck>("m3ter");
        await using ServiceProvider sp = services.BuildServiceProvider();
        var cache = (M3terRedisTokenCache)sp.GetRequiredService<ISharedTokenCache>();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        M3terToken token = await sp.GetRequiredService<ITokenProvider>().GetTokenAsync();
        TimeSpan first = clock.Elapsed;

        Assert.NotNull(token);
        Assert.True(first < TimeSpan.FromSeconds(2), $"the first token took {first}");
        Assert.NotNull(cache.Unavailable);
        HealthReport report = await sp.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Degraded, report.Entries["m3ter"].Status);
        Assert.Contains("shared token cache", report.Entries["m3ter"].Description, StringComparison.Ordinal);

        // While the breaker is open, Redis is not tried at all: reads are instant misses.
        var scope = new SharedTokenScope(m3ter.BaseAddress, m3ter.AccessKeyId, m3ter.ApiSecret);
        clock.Restart();
        for (int i = 0; i < 100; i++)
        {
            Assert.Null(await cache.ReadAsync(scope));
        }

        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(200), $"100 reads with the breaker open took {clock.Elapsed}");
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Null(cache.Unavailable); // half open: the next call tries Redis again
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); !condition(); await Task.Delay(10))
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), "the condition did not come true within 10 s");
        }
    }
}

/// <summary>A Redis with one genuine entry written by the cache, and a connection of the test's own to tamper with it.</summary>
internal sealed class SeededRedis : IAsyncDisposable
{
    private RedisServer _redis = null!;
    private ConnectionMultiplexer _mux = null!;

    public M3terRedisTokenCache Cache { get; private set; } = null!;

    public CapturingLoggerProvider Logs { get; } = new();

    public SharedTokenScope Scope { get; } = new(RedisTokenCacheTests.Base, RedisTokenCacheTests.KeyId, RedisTokenCacheTests.Secret);

    public string TokenKey { get; private set; } = null!;

    public IDatabase Db => _mux.GetDatabase();

    public static async Task<SeededRedis> StartAsync()
    {
        var seeded = new SeededRedis();
        seeded._redis = await RedisServer.StartAsync();
        seeded.Cache = new M3terRedisTokenCache(new M3terRedisTokenCacheOptions { Configuration = seeded._redis.Configuration }, logger: new LoggerFactory(new[] { seeded.Logs }).CreateLogger<M3terRedisTokenCache>());
        DateTimeOffset now = DateTimeOffset.UtcNow;
        await seeded.Cache.WriteIfNewerAsync(seeded.Scope, new M3terToken("genuine", "Bearer", now + TimeSpan.FromHours(5), now));
        seeded._mux = await ConnectionMultiplexer.ConnectAsync(seeded._redis.Configuration);
        IServer server = seeded._mux.GetServer(seeded._mux.GetEndPoints()[0]);
        seeded.TokenKey = (string)server.Keys(pattern: "*").Single()!;
        return seeded;
    }

    public async ValueTask DisposeAsync()
    {
        await Cache.DisposeAsync();
        await _mux.DisposeAsync();
        await _redis.DisposeAsync();
    }
}

/// <summary>The entry format's version byte, as the tests expect it.</summary>
internal static class ScopeFormat
{
    public const byte Version = 1;
}
