using System;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace M3ter.Auth.Tests.Tenants;

/// <summary>
/// A bounded tenant cache stays bounded: cycling many tenants through it leaves nothing of the dropped ones reachable.
/// It measures the whole process's heap, so it runs alone: a test class running beside it would move the figures.
/// </summary>
[Collection(HeapMeasurementCollection.Name)]
public sealed class TenantMemoryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TwelveThousandTenantsThroughAHundred_LeaveTheHeapWhereTwoThousandLeftIt()
    {
        const int Total = 12_000;
        using var host = new TenantHost(o => o.MaxTenants = 100, tenants: Total); // the fake m3ter and store know them all up front
        var cache = host.Services.GetRequiredService<M3ter.Auth.Tenants.TenantCache>();
        for (int i = 0; i < 2_000; i++)
        {
            await host.Tokens.GetTokenAsync("t" + i);
        }

        long afterTwoThousand = Heap();
        for (int i = 2_000; i < Total; i++)
        {
            await host.Tokens.GetTokenAsync("t" + i);
        }

        long afterAll = Heap();
        Assert.Equal(100, cache.Count);
        for (int i = Total - 100; i < Total; i++)
        {
            host.Tokens.Forget("t" + i);
        }

        long empty = Heap();
        long perTenant = (afterAll - empty) / 100;
        output.WriteLine($"heap after 2,000 tenants: {afterTwoThousand:N0} B; after {Total:N0}: {afterAll:N0} B (difference {afterAll - afterTwoThousand:N0} B); about {perTenant:N0} B per held tenant");

        Assert.Equal(0, cache.Count);
        Assert.True(afterAll - afterTwoThousand < 3 * 1024 * 1024, $"the heap grew by {afterAll - afterTwoThousand:N0} B over 10,000 dropped tenants");
        Assert.True(perTenant < 16 * 1024, $"{perTenant:N0} B per held tenant");
    }

    private static long Heap()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HeapMeasurementCollection
{
    public const string Name = "Heap measurements";
}
