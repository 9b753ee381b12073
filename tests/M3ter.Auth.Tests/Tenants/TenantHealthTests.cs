using System;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace M3ter.Auth.Tests.Tenants;

/// <summary><see cref="M3terTenantHealthCheck"/>: what the held tenants last saw, without asking the store or m3ter.</summary>
public sealed class TenantHealthTests
{
    private static Task<HealthCheckResult> CheckAsync(TenantHost host) =>
        new M3terTenantHealthCheck(host.Tokens).CheckHealthAsync(new HealthCheckContext());

    [Fact]
    public async Task TenantsWithTokens_AreHealthy_AndTheCheckAsksNobody()
    {
        using var host = new TenantHost(tenants: 2);
        await host.Tokens.GetTokenAsync("t0");
        await host.Tokens.GetTokenAsync("t1");
        int lookups = host.Store.Lookups;
        int requests = host.M3ter.TokenRequests;

        HealthCheckResult result = await CheckAsync(host);

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal(2, result.Data["held"]);
        Assert.Equal(2, result.Data["withValidToken"]);
        Assert.Equal(lookups, host.Store.Lookups);
        Assert.Equal(requests, host.M3ter.TokenRequests);
    }

    [Fact]
    public async Task SomeTenantsFailing_IsDegraded_NamingThem_WithoutSecrets()
    {
        using var host = new TenantHost(tenants: 1);
        await host.Tokens.GetTokenAsync("t0");
        host.Store.Set("refused", "key-refused", "secret-refused-never-shown"); // m3ter does not know this key
        await Assert.ThrowsAsync<M3terAuthException>(() => host.Tokens.GetTokenAsync("refused").AsTask());

        HealthCheckResult result = await CheckAsync(host);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("'refused'", result.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("'t0'", result.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-refused-never-shown", result.Description + result.Exception, StringComparison.Ordinal);
        Assert.Equal(1, result.Data["failing"]);
    }

    [Fact]
    public async Task ATenantWhoseRefreshFails_IsDegraded_WhileItsTokenStillServes()
    {
        using var host = new TenantHost(o => o.IdleTimeout = TimeSpan.FromDays(1), tenants: 1); // held, though unused for hours
        M3terToken first = await host.Tokens.GetTokenAsync("t0");
        host.M3ter.RemoveKey("key-t0"); // the key is deactivated at m3ter
        host.Time.Advance(first.ExpiresAt - host.Time.GetUtcNow() - TimeSpan.FromMinutes(4)); // the refresh is due, and is refused
        Assert.Same(first, await host.Tokens.GetTokenAsync("t0"));
        await TestWait.UntilAsync(() => host.M3ter.TokenRequests >= 2);
        await TestWait.UntilAsync(() => CheckAsync(host).Result.Status != HealthStatus.Healthy);

        HealthCheckResult result = await CheckAsync(host);

        Assert.Equal(HealthStatus.Degraded, result.Status); // its token still works for 4 minutes
        Assert.Equal(1, result.Data["withValidToken"]);
        Assert.Contains("'t0'", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryTenantFailing_IsUnhealthy_AndAtMostFiveAreNamed()
    {
        using var host = new TenantHost();
        for (int i = 0; i < 7; i++)
        {
            host.Store.Set("gone" + i, "key-gone" + i, "secret-gone" + i);
            await Assert.ThrowsAsync<M3terAuthException>(() => host.Tokens.GetTokenAsync("gone" + i).AsTask());
        }

        HealthCheckResult result = await CheckAsync(host);

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("'gone4'", result.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("'gone5'", result.Description, StringComparison.Ordinal);
        Assert.Contains("and 2 more", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheSharedTokenCacheUnavailable_IsDegraded_ThoughEveryTenantHasItsToken()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
        var m3ter = new FakeOrganizations(time);
        var store = new FakeStore();
        m3ter.AddKey("key-t0", "secret-t0", "t0");
        store.Set("t0", "key-t0", "secret-t0");
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton(store);
        services.AddSingleton<ISharedTokenCache>(new InMemorySharedCache { Unavailable = "Redis is unavailable (test)" });
        services.AddM3terAuthTenants<FakeStore>(o => o.RetryDelay = TimeSpan.Zero);
        services.AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => m3ter.TokenEndpoint());
        using ServiceProvider sp = services.BuildServiceProvider();
        var tenants = sp.GetRequiredService<IM3terTenantTokenProvider>();
        await tenants.GetTokenAsync("t0");

        HealthCheckResult result = await new M3terTenantHealthCheck(tenants).CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Equal("Redis is unavailable (test)", result.Data["sharedCache"]);
    }

    [Fact]
    public async Task NoTenantHeld_IsHealthy()
    {
        using var host = new TenantHost();

        HealthCheckResult result = await CheckAsync(host);

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal(0, result.Data["held"]);
    }
}
