using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth.TestSupport;

/// <summary>What a run of <see cref="CallLoad.RunAsync"/> saw.</summary>
/// <param name="Calls">Calls that got a response.</param>
/// <param name="Failed">Calls that failed: an unsuccessful status or an exception.</param>
/// <param name="Slowest">The slowest call.</param>
/// <param name="Failures">The first few failures, described.</param>
public sealed record CallLoadResult(int Calls, int Failed, TimeSpan Slowest, string[] Failures)
{
    public string Describe() => $"{Failed} of {Calls} calls failed: {string.Join("; ", Failures)}";
}

/// <summary>Workers that call an API continuously while a test does something to the system, counting what fails.</summary>
public static class CallLoad
{
    /// <summary>Runs one worker per element of <paramref name="workers"/> until <paramref name="during"/> completes.</summary>
    /// <param name="workers">How many workers.</param>
    /// <param name="call">One call by worker <c>i</c>.</param>
    /// <param name="during">What happens while they call; when it completes, they stop.</param>
    /// <param name="pause">A pause between one worker's calls, if any.</param>
    public static async Task<CallLoadResult> RunAsync(int workers, Func<int, Task<HttpResponseMessage>> call, Func<Task> during, TimeSpan? pause = null)
    {
        using var stop = new CancellationTokenSource();
        int calls = 0, failed = 0;
        long slowestTicks = 0;
        var failures = new ConcurrentQueue<string>();
        Task[] running = Enumerable.Range(0, workers).Select(worker => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var clock = Stopwatch.StartNew();
                try
                {
                    using HttpResponseMessage response = await call(worker);
                    Interlocked.Increment(ref calls);
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref failed);
                        failures.Enqueue(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
                    }
                }
                catch (Exception ex)
                {
                    Interlocked.Increment(ref failed);
                    failures.Enqueue(ex.GetType().Name + ": " + ex.Message);
                }

                long ticks = clock.Elapsed.Ticks;
                for (long seen = Volatile.Read(ref slowestTicks); ticks > seen && Interlocked.CompareExchange(ref slowestTicks, ticks, seen) != seen; seen = Volatile.Read(ref slowestTicks))
                {
                }

                if (pause is TimeSpan wait)
                {
                    await Task.Delay(wait);
                }
            }
        })).ToArray();

        try
        {
            await during();
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(running);
        }

        return new CallLoadResult(calls, failed, TimeSpan.FromTicks(slowestTicks), failures.Take(5).ToArray());
    }
}
