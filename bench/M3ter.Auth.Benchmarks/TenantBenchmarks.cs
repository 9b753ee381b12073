using System;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using M3ter.Auth.Internal;
using M3ter.Auth.Tenants;

namespace M3ter.Auth.Benchmarks;

/// <summary>
/// 6. Credentials per tenant. The warm path of a tenant request (tenant set, token held) against a handler that sets
/// a constant header on a request with the same option set: budget 1.20× and no extra bytes, no lock.
/// </summary>
[MemoryDiagnoser]
public class TenantBenchmarks
{
    private static readonly Uri Url = new("https://api.m3ter.com/organizations/org-acme/products");
    private static readonly string[] Hundred = System.Linq.Enumerable.Range(0, 100).Select(i => "tenant-" + i).ToArray();
    private int _next;
    private HttpClient _constant = null!;
    private HttpClient _tenant = null!;
    private HttpClient _single = null!;
    private TokenProvider _provider = null!;
    private TenantCache _tenants = null!;

    [GlobalSetup]
    public async Task Setup()
    {
        TimeProvider time = TimeProvider.System;
        _tenants = Tenants.Create(time, maxTenants: 1000, delay: TimeSpan.Zero, out _);
        for (int i = 0; i < 100; i++)
        {
            await _tenants.GetTokenAsync("tenant-" + i); // a hundred tenants held, as a busy platform would have
        }

        await _tenants.GetTokenAsync("acme");
        _constant = new HttpClient(new ConstantHeaderHandler { InnerHandler = new CachedOkHandler() });
        _tenant = new HttpClient(new M3terAuthHandler(_tenants, logger: null, time) { InnerHandler = new CachedOkHandler() });
        M3terAuthOptions options = BenchOptions.Create();
        _provider = new TokenProvider(new BenchTokenClient(time, TimeSpan.FromHours(5)), options, time);
        await _provider.GetTokenAsync();
        _single = new HttpClient(new M3terAuthHandler(_provider, options, timeProvider: time) { InnerHandler = new CachedOkHandler() });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _constant.Dispose();
        _tenant.Dispose();
        _tenants.Dispose();
        _single.Dispose();
        _provider.Dispose();
    }

    [Benchmark(Baseline = true, Description = "constant AuthenticationHeaderValue, tenant option set")]
    public Task<HttpResponseMessage> ConstantHeader() => _constant.SendAsync(new HttpRequestMessage(HttpMethod.Get, Url).WithM3terTenant("acme"));

    [Benchmark(Description = "M3terAuthHandler of one registration, warm (the request's tenant option ignored)")]
    public Task<HttpResponseMessage> SingleWarm() => _single.SendAsync(new HttpRequestMessage(HttpMethod.Get, Url).WithM3terTenant("acme"));

    [Benchmark(Description = "tenant handler, tenant held, warm token")]
    public Task<HttpResponseMessage> TenantWarm() => _tenant.SendAsync(new HttpRequestMessage(HttpMethod.Get, Url).WithM3terTenant("acme"));

    [Benchmark(Description = "tenant handler, 100 held tenants in turn, warm tokens")]
    public Task<HttpResponseMessage> TenantWarmRoundRobin() => _tenant.SendAsync(new HttpRequestMessage(HttpMethod.Get, Url).WithM3terTenant(Hundred[_next++ % 100]));
}

/// <summary>7. Cold tenants: 1,000 concurrent callers spread over 100 tenants, a 5 ms token client: exactly 100 token requests.</summary>
[MemoryDiagnoser]
public class TenantColdStartBenchmarks
{
    private const int Callers = 1000;
    private readonly Task<M3terToken>[] _callers = new Task<M3terToken>[Callers];
    private TenantCache _tenants = null!;
    private Func<int> _calls = null!;

    [IterationSetup]
    public void Setup() => _tenants = Tenants.Create(TimeProvider.System, maxTenants: 1000, TimeSpan.FromMilliseconds(5), out _calls);

    [IterationCleanup]
    public void Cleanup()
    {
        _tenants.Dispose();
        if (_calls() != 100)
        {
            throw new InvalidOperationException($"{Callers} cold callers over 100 tenants made {_calls()} token requests, not 100");
        }
    }

    [Benchmark(Description = "1,000 cold callers over 100 tenants, 5 ms token client")]
    public async Task ThousandColdCallersOverAHundredTenants()
    {
        for (int i = 0; i < Callers; i++)
        {
            _callers[i] = _tenants.GetTokenAsync("tenant-" + (i % 100)).AsTask();
        }

        await Task.WhenAll(_callers).ConfigureAwait(false);
    }
}

/// <summary>8. Memory: 100,000 tenants cycled through a cache of 1,000; prints the heap held before and after, and per held tenant.</summary>
[MemoryDiagnoser]
public class TenantMemoryBenchmarks
{
    private TenantCache _tenants = null!;
    private int _round;

    [GlobalSetup]
    public void Setup() => _tenants = Tenants.Create(TimeProvider.System, maxTenants: 1000, TimeSpan.Zero, out _);

    [GlobalCleanup]
    public void Cleanup()
    {
        long full = Heap();
        for (int i = 0; i < 100_000; i++)
        {
            _tenants.Forget("r" + _round + "-" + i);
        }

        long empty = Heap();
        Console.WriteLine($"// heap with 1,000 tenants held after cycling 100,000 through the cache: {full:N0} B; with none: {empty:N0} B; {(full - empty) / 1000:N0} B per held tenant");
        _tenants.Dispose();
    }

    [Benchmark(Description = "100,000 tenants through a cache of 1,000 (lookup, token, eviction each)", OperationsPerInvoke = 100_000)]
    public async Task CycleAHundredThousandTenants()
    {
        _round++;
        for (int i = 0; i < 100_000; i++)
        {
            await _tenants.GetTokenAsync("r" + _round + "-" + i).ConfigureAwait(false);
        }
    }

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

/// <summary>A tenant cache whose tenants all exist, each with its own in-memory token client.</summary>
internal static class Tenants
{
    public static TenantCache Create(TimeProvider time, int maxTenants, TimeSpan delay, out Func<int> tokenRequests)
    {
        int requests = 0;
        tokenRequests = () => Volatile.Read(ref requests);
        var counting = new Counter(() => Interlocked.Increment(ref requests));
        return new TenantCache(
            (tenant, _) => new ValueTask<M3terCredentials?>(new M3terCredentials("key-" + tenant, "secret-" + tenant) { OrganizationId = "org-" + tenant }),
            new M3terTenantOptions { MaxTenants = maxTenants },
            options => new TokenProvider(new CountingTokenClient(new BenchTokenClient(time, TimeSpan.FromHours(5), delay), counting), options, time),
            time);
    }

    private sealed class Counter(Action increment)
    {
        public void Add() => increment();
    }

    private sealed class CountingTokenClient(BenchTokenClient inner, Counter counter) : ITokenClient
    {
        public Task<M3terToken> RequestTokenAsync(CancellationToken cancellationToken = default)
        {
            counter.Add();
            return inner.RequestTokenAsync(cancellationToken);
        }
    }
}
