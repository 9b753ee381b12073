using System;
using System.Collections.Generic;
using Microsoft.Extensions.Configuration;

namespace M3ter.Auth.TestSupport;

/// <summary>A configuration source whose data a test replaces, firing a reload like a changed appsettings.json.</summary>
public sealed class ReloadableConfigurationSource(Dictionary<string, string?> initial) : IConfigurationSource
{
    public ReloadableConfigurationProvider Provider { get; } = new(initial);

    public IConfigurationProvider Build(IConfigurationBuilder builder) => Provider;
}

public sealed class ReloadableConfigurationProvider(Dictionary<string, string?> initial) : ConfigurationProvider
{
    public override void Load() => Data = new Dictionary<string, string?>(initial, StringComparer.OrdinalIgnoreCase);

    public void Replace(Dictionary<string, string?> data)
    {
        Data = new Dictionary<string, string?>(data, StringComparer.OrdinalIgnoreCase);
        OnReload();
    }
}
