using System.Threading.Channels;

namespace IngestWorker;

/// <summary>Where the application puts measurements; the worker takes them out in batches.</summary>
public sealed class MeasurementBuffer
{
    private readonly Channel<Measurement> _channel = Channel.CreateUnbounded<Measurement>(new UnboundedChannelOptions { SingleReader = true });

    public ChannelReader<Measurement> Reader => _channel.Reader;

    /// <summary>Queues a measurement; false once the worker is shutting down (the caller keeps it for the next run).</summary>
    public bool TryAdd(Measurement measurement) => _channel.Writer.TryWrite(measurement);

    /// <summary>No more measurements: the worker sends what is queued and stops.</summary>
    public void Complete() => _channel.Writer.TryComplete();
}
