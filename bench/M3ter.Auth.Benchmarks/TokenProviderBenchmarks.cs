using System;
using System.Threading;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;

namespace M3ter.Auth.Benchmarks;

/// <summary>
/// 2. <c>GetTokenAsync</c> on a warm cache, on 1 thread and on 2/4/8 threads at once (each op is one call; the mean is
/// wall time per call across all threads, so perfect scaling halves it when threads double, up to the core count).
/// 4. The refresh window: calls while a background refresh is in flight.
/// </summary>
[MemoryDiagnoser]
public class TokenProviderBenchmarks
{
    private const int CallsPerThread = 100_000;
    private TokenProvider _warm = null!;
    private TokenProvider _refreshing = null!;
    private BenchTokenClient _refreshingClient = null!;

    [Params(1, 2, 4, 8)]
    public int Threads { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        TimeProvider time = TimeProvider.System;
        _warm = new TokenProvider(new BenchTokenClient(time, TimeSpan.FromHours(5)), BenchOptions.Create(), time);
        await _warm.GetTokenAsync();

        // A provider whose (manual, lock-free) clock stands inside the refresh window, with the background refresh held open.
        var refreshTime = new ManualTimeProvider(DateTimeOffset.UtcNow);
        _refreshingClient = new BenchTokenClient(refreshTime, TimeSpan.FromHours(5));
        _refreshing = new TokenProvider(_refreshingClient, BenchOptions.Create(), refreshTime);
        await _refreshing.GetTokenAsync();
        _refreshingClient.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        refreshTime.Now += TimeSpan.FromHours(5) - TimeSpan.FromMinutes(1);
        refreshTime.FireTimers(); // the refresh is due: the entry's timer marks it stale
        await _refreshing.GetTokenAsync(); // starts the background refresh, which waits on the gate
        for (int i = 0; i < 1000 && _refreshingClient.Calls < 2; i++)
        {
            await Task.Delay(1);
        }

        if (_refreshingClient.Calls != 2)
        {
            throw new InvalidOperationException("the background refresh did not start");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_refreshingClient.Calls != 2)
        {
            throw new InvalidOperationException($"the refresh window made {_refreshingClient.Calls - 1} refresh requests, not 1");
        }

        _refreshingClient.Gate!.SetResult();
        _warm.Dispose();
        _refreshing.Dispose();
    }

    [Benchmark(OperationsPerInvoke = CallsPerThread, Description = "GetTokenAsync, warm cache")]
    public void Warm() => Run(_warm);

    [Benchmark(OperationsPerInvoke = CallsPerThread, Description = "GetTokenAsync, refresh in flight")]
    public void RefreshWindow() => Run(_refreshing);

    private void Run(TokenProvider provider)
    {
        if (Threads == 1)
        {
            Calls(provider);
            return;
        }

        // Each thread makes CallsPerThread/Threads calls, so every row is CallsPerThread calls in all.
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, _ => Calls(provider, CallsPerThread / Threads));
    }

    private static void Calls(TokenProvider provider, int count = CallsPerThread)
    {
        for (int i = 0; i < count; i++)
        {
            ValueTask<M3terToken> call = provider.GetTokenAsync();
            if (!call.IsCompletedSuccessfully)
            {
                throw new InvalidOperationException("a warm call waited");
            }
        }
    }
}
