using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;

namespace IngestWorker;

/// <summary>Stands in for the application: records API calls as usage, <c>rate</c> measurements a second, until shutdown.</summary>
public sealed class UsageGenerator(MeasurementBuffer queue, IngestStatistics statistics, IngestWorkerSettings settings, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        string[] accounts = ["acme", "globex", "initech"];
        var tick = TimeSpan.FromMilliseconds(50);
        double perTick = settings.MeasurementsPerSecond * tick.TotalSeconds, owed = 0;
        using var timer = new PeriodicTimer(tick, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                for (owed += perTick; owed >= 1; owed--)
                {
                    long n = statistics.Generated;
                    var measurement = new Measurement(Guid.NewGuid().ToString("N"), "api-calls", accounts[n % accounts.Length], time.GetUtcNow(), 1);
                    if (!queue.TryAdd(measurement))
                    {
                        return; // shutting down
                    }

                    statistics.Generate();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Shutdown: stop producing; the worker sends what is queued.
        }
    }
}
