using System;

namespace M3ter.Auth.Testing;

/// <summary>Settings for an <see cref="M3terEmulator"/>.</summary>
public sealed class M3terEmulatorOptions
{
    /// <summary>Gets or sets the access key id the emulator accepts.</summary>
    /// <value>Defaults to a random id.</value>
    public string AccessKeyId { get; set; } = "emulator-key-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>Gets or sets the API secret the emulator accepts.</summary>
    /// <value>Defaults to a random secret.</value>
    public string ApiSecret { get; set; } = "emulator-secret-" + Guid.NewGuid().ToString("N");

    /// <summary>Gets or sets the organization id the emulator serves.</summary>
    /// <value>Defaults to a random id.</value>
    public string OrganizationId { get; set; } = Guid.NewGuid().ToString();

    /// <summary>Gets or sets the lifetime of the tokens the emulator issues.</summary>
    /// <value>
    /// Defaults to 18,000 seconds (5 hours), as m3ter documents. Sent as <c>expires_in</c> in whole seconds, rounded up,
    /// and the token then lives exactly that long, so no token dies before its advertised expiry.
    /// </value>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromSeconds(18000);

    /// <summary>Gets or sets the clock the emulator expires tokens by, and waits on for <see cref="M3terFault.Slow"/> faults.</summary>
    /// <value>Defaults to <see cref="TimeProvider.System"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Gets or sets a value indicating whether requests and accepted measurements are kept for <see cref="M3terEmulator.Requests"/> and <see cref="M3terEmulator.Measurements"/>.</summary>
    /// <value>Defaults to <see langword="true"/>. Turn it off for long soak runs; the counters still count.</value>
    public bool RecordRequests { get; set; } = true;

    /// <summary>Gets or sets how many of the latest requests are kept; older ones are dropped (a ring buffer).</summary>
    /// <value>
    /// Defaults to 10,000. Each one keeps its headers and body, so memory follows the payloads: 10,000 ingest requests
    /// near the 512,000-byte limit hold about 5 GB. Lower it, or turn <see cref="RecordRequests"/> off, for heavy ingest runs.
    /// </value>
    public int MaxRecordedRequests { get; set; } = 10_000;

    /// <summary>Gets or sets how many accepted measurements are kept for <see cref="M3terEmulator.Measurements"/>; older ones are dropped.</summary>
    /// <value>Defaults to 100,000.</value>
    public int MaxRecordedMeasurements { get; set; } = 100_000;

    /// <summary>Gets or sets how many requests per second each API (config, ingest) accepts per organization before answering 429 with <c>Retry-After</c>.</summary>
    /// <value>Defaults to 50, as m3ter enforces (token requests count against the config API's). Null turns rate limiting off.</value>
    public int? RateLimitPerSecond { get; set; } = 50;

    /// <summary>Gets or sets the seed of the emulator's randomness (<see cref="M3terEmulator.TransientTokenFailureRate"/>), for repeatable runs.</summary>
    /// <value>Defaults to null: a new seed each run.</value>
    public int? RandomSeed { get; set; }

    /// <summary>Gets or sets the loopback port of the API host (token endpoint and config API).</summary>
    /// <value>Defaults to 0: a free port.</value>
    public int ApiPort { get; set; }

    /// <summary>Gets or sets the loopback port of the ingest host.</summary>
    /// <value>Defaults to 0: a free port.</value>
    public int IngestPort { get; set; }
}
