using System;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;

namespace M3ter.Auth.Benchmarks;

/// <summary>3. Cold start: 1,000 concurrent callers on an empty cache, with a token client that takes 5 ms.</summary>
[MemoryDiagnoser]
public class ColdStartBenchmarks
{
    private const int Callers = 1000;
    private readonly Task<M3terToken>[] _callers = new Task<M3terToken>[Callers];
    private TokenProvider _provider = null!;
    private BenchTokenClient _client = null!;

    [IterationSetup]
    public void Setup()
    {
        TimeProvider time = TimeProvider.System;
        _client = new BenchTokenClient(time, TimeSpan.FromHours(5), TimeSpan.FromMilliseconds(5));
        _provider = new TokenProvider(_client, BenchOptions.Create(), time);
    }

    [IterationCleanup]
    public void Cleanup()
    {
        _provider.Dispose();
        if (_client.Calls != 1)
        {
            throw new InvalidOperationException($"{Callers} cold callers made {_client.Calls} token requests, not 1");
        }
    }

    [Benchmark(Description = "1,000 cold callers, 5 ms token client")]
    public async Task ThousandColdCallers()
    {
        for (int i = 0; i < Callers; i++)
        {
            _callers[i] = _provider.GetTokenAsync().AsTask();
        }

        await Task.WhenAll(_callers).ConfigureAwait(false);
    }
}
