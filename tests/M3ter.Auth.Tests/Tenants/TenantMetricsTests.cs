using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.Linq;
using System.Threading.Tasks;

namespace M3ter.Auth.Tests.Tenants;

/// <summary>The tenant metrics: held, lookups and evictions, never tagged with a tenant (that would be unbounded cardinality).</summary>
[Collection(HeapMeasurementCollection.Name)] // the meter is process-wide: no other tenant test may run beside it
public sealed class TenantMetricsTests
{
    [Fact]
    public async Task HeldLookupsAndEvictions_AreMeasured_WithoutATenantTag()
    {
        var measurements = new ConcurrentQueue<(string Name, long Value, KeyValuePair<string, object?>[] Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "M3ter.Auth" && instrument.Name.StartsWith("m3ter.auth.tenants.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => measurements.Enqueue((instrument.Name, value, tags.ToArray())));
        listener.Start();

        using (var host = new TenantHost(o => o.MaxTenants = 2, tenants: 3))
        {
            await host.Tokens.GetTokenAsync("t0");
            await host.Tokens.GetTokenAsync("t1");
            await host.Tokens.GetTokenAsync("t2"); // t0 evicted
            await Assert.ThrowsAsync<M3terAuthException>(() => host.Tokens.GetTokenAsync("nobody").AsTask());
        }

        var all = measurements.ToArray();
        Assert.Equal(3, all.Where(m => m.Name == "m3ter.auth.tenants.lookups").Count(m => m.Tags.Contains(new("outcome", "found"))));
        Assert.Equal(1, all.Where(m => m.Name == "m3ter.auth.tenants.lookups").Count(m => m.Tags.Contains(new("outcome", "unknown"))));
        Assert.Equal(1, all.Where(m => m.Name == "m3ter.auth.tenants.evictions").Count(m => m.Tags.Contains(new("reason", "capacity"))));
        Assert.Equal(0, all.Where(m => m.Name == "m3ter.auth.tenants.held").Sum(m => m.Value)); // +3 −1 −2 at disposal
        Assert.All(all, m => Assert.DoesNotContain(m.Tags, t => t.Value is string s && (s.StartsWith('t') && s.Length == 2 || s == "nobody")));
    }
}
