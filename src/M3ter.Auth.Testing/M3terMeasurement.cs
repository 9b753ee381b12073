using System;

namespace M3ter.Auth.Testing;

/// <summary>A measurement the <see cref="M3terEmulator"/> accepted at its ingest API, parsed, so tests can check what arrived.</summary>
/// <remarks>
/// Every accepted measurement is kept in the order received, duplicates included: m3ter itself treats a repeated
/// <c>uid</c> as the same measurement (ingest is idempotent by <c>uid</c> for 35 days), and a test can check that a
/// client never sent one twice, or that a retry reused the <c>uid</c>.
/// </remarks>
public sealed class M3terMeasurement
{
    internal M3terMeasurement(string uid, string meter, string account, DateTimeOffset timestamp, string json, DateTimeOffset receivedAt)
    {
        Uid = uid;
        Meter = meter;
        Account = account;
        Timestamp = timestamp;
        Json = json;
        ReceivedAt = receivedAt;
    }

    /// <summary>Gets the measurement's unique id (<c>uid</c>).</summary>
    public string Uid { get; }

    /// <summary>Gets the meter's code (<c>meter</c>).</summary>
    public string Meter { get; }

    /// <summary>Gets the account's code (<c>account</c>).</summary>
    public string Account { get; }

    /// <summary>Gets when the measurement was taken (<c>ts</c>).</summary>
    public DateTimeOffset Timestamp { get; }

    /// <summary>Gets the measurement as it was sent, as JSON.</summary>
    public string Json { get; }

    /// <summary>Gets when the emulator received it.</summary>
    public DateTimeOffset ReceivedAt { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Uid} {Meter}/{Account} at {Timestamp:O}";
}
