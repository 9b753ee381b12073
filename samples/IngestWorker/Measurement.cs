using System;

namespace IngestWorker;

/// <summary>One usage measurement, as m3ter's ingest API takes it. <see cref="Uid"/> makes a retry idempotent: m3ter keeps one per uid for 35 days.</summary>
public sealed record Measurement(string Uid, string Meter, string Account, DateTimeOffset Timestamp, double Quantity);
