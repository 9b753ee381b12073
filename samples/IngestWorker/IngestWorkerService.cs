using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace IngestWorker;

/// <summary>
/// Takes measurements from the queue and submits them in batches within m3ter's limits (up to 1,000 measurements and
/// under 512,000 bytes a request), as soon as a batch is full or a second has passed. Transient failures are retried
/// by the standard resilience handler; a batch that still fails is kept and tried again. On shutdown it sends what is
/// queued before it stops.
/// </summary>
public sealed partial class IngestWorkerService(MeasurementBuffer queue, IngestClient client, IngestStatistics statistics, ILogger<IngestWorkerService> logger) : BackgroundService
{
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(1);
    private const int EmptyBody = 20; // {"measurements":[]}

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        queue.Complete(); // the loop drains what is queued, then ends
        await base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Measurement>(IngestClient.MaxMeasurements);
        int bodyBytes = EmptyBody;

        // Until the queue is complete (shutdown) and empty: nothing is left behind.
        while (await queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            // Fill a batch until it is full (count or bytes) or a second has passed since its first measurement.
            using var window = new CancellationTokenSource(MaxWait);
            bool more = true;
            while (more)
            {
                while (queue.Reader.TryRead(out Measurement? measurement))
                {
                    int size = IngestClient.SizeOf(measurement);
                    if (batch.Count == IngestClient.MaxMeasurements || bodyBytes + size >= IngestClient.MaxBodyBytes)
                    {
                        await SendAsync(batch);
                        bodyBytes = EmptyBody;
                    }

                    batch.Add(measurement);
                    bodyBytes += size;
                }

                try
                {
                    more = await queue.Reader.WaitToReadAsync(window.Token);
                }
                catch (OperationCanceledException)
                {
                    more = false; // the second is up: send what there is
                }
            }

            if (batch.Count > 0)
            {
                await SendAsync(batch);
                bodyBytes = EmptyBody;
            }
        }

        async Task SendAsync(List<Measurement> measurements)
        {
            byte[] body = IngestClient.Serialize(measurements);
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    // Not on stoppingToken: a shutdown flushes what is queued instead of dropping it.
                    await client.SubmitAsync(body, CancellationToken.None);
                    statistics.Sent(measurements.Count);
                    measurements.Clear();
                    return;
                }
                catch (Exception ex) when (attempt < 5)
                {
                    // The resilience handler already retried transient failures; the same body (same uids) is safe to send again.
                    LogBatchFailed(logger, measurements.Count, attempt, ex.Message);
                    statistics.Failed();
                    await Task.Delay(TimeSpan.FromSeconds(attempt), CancellationToken.None);
                }
            }
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "Submitting a batch of {Count} measurements failed (attempt {Attempt}); trying again: {Reason}")]
    private static partial void LogBatchFailed(ILogger logger, int count, int attempt, string reason);
}
