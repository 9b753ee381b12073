using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace IngestWorker;

/// <summary>
/// Takes measurements from the queue and submits them in batches within m3ter's limits (up to 1,000 measurements and
/// under 512,000 bytes a request), as soon as a batch is full or a second has passed. The standard resilience handler
/// retries transient failures first; a batch that still fails is kept and tried again, with a back-off that grows to
/// 30 s, for as long as it takes (an outage loses nothing). A batch m3ter refuses as malformed (400, 413, 422) would
/// be refused forever: it is logged, counted as rejected and dropped. No failure stops the worker. On shutdown it
/// sends what is queued, until the host's shutdown timeout (60 s here) ends the wait.
/// </summary>
public sealed partial class IngestWorkerService(MeasurementBuffer queue, IngestClient client, IngestStatistics statistics, ILogger<IngestWorkerService> logger) : BackgroundService
{
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackOff = TimeSpan.FromSeconds(30);
    private const int EmptyBody = 20; // {"measurements":[]}

    private readonly CancellationTokenSource _abandon = new();
    private int _disposed;

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        queue.Complete(); // the loop drains what is queued, then ends
        await base.StopAsync(cancellationToken);

        // base.StopAsync returns when the loop ends or when the host stops waiting (its shutdown timeout). In the
        // second case m3ter is unreachable: tell the loop to give up now, and let it say what it leaves behind,
        // rather than have it retry on after the host has moved on.
        if (cancellationToken.IsCancellationRequested && ExecuteTask is { IsCompleted: false } loop)
        {
            _abandon.Cancel();
            await Task.WhenAny(loop, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None));
        }
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _abandon.Cancel();
        _abandon.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Measurement>(IngestClient.MaxMeasurements);
        int bodyBytes = EmptyBody;

        try
        {
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
                        if (batch.Count > 0 && (batch.Count == IngestClient.MaxMeasurements || bodyBytes + size >= IngestClient.MaxBodyBytes))
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
        }
        catch (OperationCanceledException) when (_abandon.IsCancellationRequested)
        {
            // The host's shutdown timeout passed while m3ter was unreachable: what is left is reported, not sent.
            LogAbandoned(logger, batch.Count);
        }

        async Task SendAsync(List<Measurement> measurements)
        {
            byte[] body = IngestClient.Serialize(measurements);
            TimeSpan backOff = TimeSpan.FromSeconds(1);
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    // Not on stoppingToken: a shutdown flushes what is queued instead of dropping it.
                    await client.SubmitAsync(body, _abandon.Token);
                    statistics.Sent(measurements.Count);
                    measurements.Clear();
                    return;
                }
                catch (HttpRequestException ex) when (IsRefusedForever(ex.StatusCode))
                {
                    // Sending the same body again gets the same answer: keep the worker going, and say what was lost.
                    LogBatchRejected(logger, measurements.Count, (int)ex.StatusCode!.Value, ex.Message);
                    statistics.Rejected(measurements.Count);
                    measurements.Clear();
                    return;
                }
                catch (Exception ex) when (!_abandon.IsCancellationRequested)
                {
                    // Everything else may pass: an outage, a throttle, credentials being rotated. The same body (same
                    // uids) is safe to send again.
                    LogBatchFailed(logger, measurements.Count, attempt, backOff.TotalSeconds, ex.Message);
                    statistics.Failed();
                    await Task.Delay(backOff, _abandon.Token);
                    backOff = TimeSpan.FromTicks(Math.Min(backOff.Ticks * 2, MaxBackOff.Ticks));
                }
            }
        }
    }

    private static bool IsRefusedForever(HttpStatusCode? status) =>
        status is HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.UnprocessableEntity;

    [LoggerMessage(1, LogLevel.Warning, "Submitting a batch of {Count} measurements failed (attempt {Attempt}); trying again in {BackOffSeconds} s: {Reason}")]
    private static partial void LogBatchFailed(ILogger logger, int count, int attempt, double backOffSeconds, string reason);

    [LoggerMessage(2, LogLevel.Error, "m3ter refused a batch of {Count} measurements with {Status}; it is dropped, as sending it again would get the same answer: {Reason}")]
    private static partial void LogBatchRejected(ILogger logger, int count, int status, string reason);

    [LoggerMessage(3, LogLevel.Error, "The host stopped waiting for the worker while m3ter was unreachable: {Count} measurement(s) in the current batch, and any still queued, were not sent")]
    private static partial void LogAbandoned(ILogger logger, int count);
}
