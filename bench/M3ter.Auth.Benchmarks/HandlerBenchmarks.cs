using System;
using System.Net.Http;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using M3ter.Auth.StackExchangeRedis.Tests;

namespace M3ter.Auth.Benchmarks;

/// <summary>
/// 1. <c>HttpClient.SendAsync</c> through an in-memory terminal handler: no auth (the floor), a constant header (the
/// physical limit for attaching one), and <see cref="M3terAuthHandler"/> with a warm cache, alone and with the Redis
/// token cache registered. Budget: M3terAuthHandler at most 1.05× the constant header's mean and no more bytes,
/// measured with <c>bench/handler-ratio.sh</c> (paired runs: the ratio moves by several percent from run to run).
/// </summary>
[MemoryDiagnoser]
public class HandlerBenchmarks
{
    private static readonly Uri Url = new("https://api.m3ter.com/organizations/org-1/products");
    private HttpClient _noAuth = null!;
    private HttpClient _constant = null!;
    private HttpClient _m3ter = null!;
    private HttpClient _m3terShared = null!;
    private HttpClient _m3terSharedDown = null!;
    private TokenProvider _provider = null!;
    private TokenProvider _sharedProvider = null!;
    private TokenProvider _sharedDownProvider = null!;
    private M3ter.Auth.StackExchangeRedis.M3terRedisTokenCache _redis = null!;
    private M3ter.Auth.StackExchangeRedis.M3terRedisTokenCache _redisDown = null!;
    private RedisServer? _redisServer;

    [GlobalSetup]
    public async Task Setup()
    {
        // The production clock: the warm path must not pay for reading it.
        TimeProvider time = TimeProvider.System;
        M3terAuthOptions options = BenchOptions.Create();
        _provider = new TokenProvider(new BenchTokenClient(time, TimeSpan.FromHours(5)), options, time);
        await _provider.GetTokenAsync();
        _noAuth = new HttpClient(new CachedOkHandler());
        _constant = new HttpClient(new ConstantHeaderHandler { InnerHandler = new CachedOkHandler() });
        _m3ter = new HttpClient(new M3terAuthHandler(_provider, options, timeProvider: time) { InnerHandler = new CachedOkHandler() });

        // The same with the Redis token cache registered, on a real redis-server (the token came through it): the warm
        // path must not touch it. Without redis-server installed this case measures the unreachable one twice.
        _redisServer = RedisServer.Executable is null ? null : await RedisServer.StartAsync();
        if (_redisServer is null)
        {
            Console.WriteLine("// redis-server is not installed: the 'Redis token cache registered' case uses an unreachable Redis");
        }

        try
        {
            (_redis, _sharedProvider, _m3terShared) = await SharedAsync(_redisServer?.Configuration ?? "127.0.0.1:1", options, time);

            // Registered, but Redis is down (a port nothing listens on): the multiplexer keeps trying to reconnect in
            // the background, and any Redis call on the warm path would show as a timeout, not as a fast round trip.
            (_redisDown, _sharedDownProvider, _m3terSharedDown) = await SharedAsync("127.0.0.1:1", options, time);
        }
        catch
        {
            _redisServer?.DisposeAsync().AsTask().GetAwaiter().GetResult(); // GlobalCleanup does not run after a failed setup: leave no redis-server behind
            throw;
        }
    }

    private static async Task<(M3ter.Auth.StackExchangeRedis.M3terRedisTokenCache, TokenProvider, HttpClient)> SharedAsync(string configuration, M3terAuthOptions options, TimeProvider time)
    {
        var cache = new M3ter.Auth.StackExchangeRedis.M3terRedisTokenCache(new M3ter.Auth.StackExchangeRedis.M3terRedisTokenCacheOptions { Configuration = configuration, ConnectTimeout = TimeSpan.FromMilliseconds(500) });
        var provider = new TokenProvider(new BenchTokenClient(time, TimeSpan.FromHours(5)), options, time, logger: null, sharedCache: cache);
        await provider.GetTokenAsync();
        return (cache, provider, new HttpClient(new M3terAuthHandler(provider, options, timeProvider: time) { InnerHandler = new CachedOkHandler() }));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _noAuth.Dispose();
        _constant.Dispose();
        _m3ter.Dispose();
        _provider.Dispose();
        _m3terShared.Dispose();
        _sharedProvider.Dispose();
        _redis.Dispose();
        _m3terSharedDown.Dispose();
        _sharedDownProvider.Dispose();
        _redisDown.Dispose();
        _redisServer?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Description = "no auth handler (floor)")]
    public Task<HttpResponseMessage> NoAuth() => _noAuth.SendAsync(new HttpRequestMessage(HttpMethod.Get, Url));

    [Benchmark(Baseline = true, Description = "constant AuthenticationHeaderValue")]
    public Task<HttpResponseMessage> ConstantHeader() => _constant.SendAsync(new HttpRequestMessage(HttpMethod.Get, Url));

    [Benchmark(Description = "M3terAuthHandler, warm cache")]
    public Task<HttpResponseMessage> M3terAuthHandlerWarm() => _m3ter.SendAsync(new HttpRequestMessage(HttpMethod.Get, Url));

    [Benchmark(Description = "M3terAuthHandler, warm cache, Redis token cache registered")]
    public Task<HttpResponseMessage> M3terAuthHandlerWarmWithRedis() => _m3terShared.SendAsync(new HttpRequestMessage(HttpMethod.Get, Url));

    [Benchmark(Description = "M3terAuthHandler, warm cache, Redis token cache registered, Redis down")]
    public Task<HttpResponseMessage> M3terAuthHandlerWarmWithRedisDown() => _m3terSharedDown.SendAsync(new HttpRequestMessage(HttpMethod.Get, Url));
}
