using System;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace IngestWorker;

/// <summary>
/// A periodic summary line from M3ter.Auth's own metrics (the <c>M3ter.Auth</c> meter) and its health check, so you
/// see token requests, replays and the token's remaining lifetime while the worker runs.
/// </summary>
public sealed class SummaryPrinter(IngestStatistics statistics, HealthCheckService health, TextWriter output, TimeSpan interval) : BackgroundService
{
    private readonly MeterListener _listener = new();
    private long _tokenRequests;
    private long _replays;
    private double _remainingSeconds;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "M3ter.Auth")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == "m3ter.auth.token.requests")
            {
                Interlocked.Add(ref _tokenRequests, value);
            }
            else if (instrument.Name == "m3ter.auth.replays")
            {
                Interlocked.Add(ref _replays, value);
            }
        });
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            if (instrument.Name == "m3ter.auth.token.remaining_lifetime")
            {
                Volatile.Write(ref _remainingSeconds, value);
            }
        });
        _listener.Start();
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        _listener.Dispose();
    }

    /// <summary>One summary line now.</summary>
    public async Task PrintAsync(CancellationToken cancellationToken)
    {
        _listener.RecordObservableInstruments();
        HealthReport report = await health.CheckHealthAsync(cancellationToken);
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"  generated {statistics.Generated}, sent {statistics.SentMeasurements} in {statistics.Batches} batch(es); token requests {Interlocked.Read(ref _tokenRequests)}, replays {Interlocked.Read(ref _replays)}, token valid for {Volatile.Read(ref _remainingSeconds):0} s; health {report.Status}"));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await PrintAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
