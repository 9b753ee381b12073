using System.Threading;

namespace IngestWorker;

/// <summary>What the worker has done, for its summary line and for tests.</summary>
public sealed class IngestStatistics
{
    private long _generated;
    private long _sent;
    private long _batches;
    private long _failures;
    private long _rejected;

    public long Generated => Interlocked.Read(ref _generated);

    public long SentMeasurements => Interlocked.Read(ref _sent);

    public long Batches => Interlocked.Read(ref _batches);

    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Measurements m3ter refused as malformed: dropped, as they would be refused again.</summary>
    public long RejectedMeasurements => Interlocked.Read(ref _rejected);

    public void Generate() => Interlocked.Increment(ref _generated);

    public void Sent(int measurements)
    {
        Interlocked.Add(ref _sent, measurements);
        Interlocked.Increment(ref _batches);
    }

    public void Failed() => Interlocked.Increment(ref _failures);

    public void Rejected(int measurements) => Interlocked.Add(ref _rejected, measurements);
}
