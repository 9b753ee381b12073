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

    /// <summary>Gets or sets the lifetime of the tokens the emulator issues (sent as <c>expires_in</c>, whole seconds).</summary>
    /// <value>Defaults to 18,000 seconds (5 hours), as m3ter documents.</value>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromSeconds(18000);

    /// <summary>Gets or sets the clock the emulator expires tokens by.</summary>
    /// <value>Defaults to <see cref="TimeProvider.System"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Gets or sets a value indicating whether every request is kept for <see cref="M3terEmulator.Requests"/>.</summary>
    /// <value>Defaults to <see langword="true"/>. Turn it off for long soak runs; the counters still count.</value>
    public bool RecordRequests { get; set; } = true;
}
