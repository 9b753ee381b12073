using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;

namespace M3ter.Auth.Tests.Tenants;

/// <summary>Tokens per tenant through <see cref="IM3terTenantTokenProvider"/>: single flight per tenant, the store asked sparingly, bounds, rotation.</summary>
public sealed class TenantTokenProviderTests
{
    [Fact]
    public async Task ColdCallers_OfTwoTenants_MakeOneTokenRequestEach_AndEachGetsItsOwnTenantsToken()
    {
        using var host = new TenantHost(tenants: 0);
        host.Add("acme");
        host.Add("globex");
        host.M3ter.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        IM3terTenantTokenProvider tokens = host.Tokens;

        Task<M3terToken>[] a = Enumerable.Range(0, 100).Select(_ => Task.Run(() => tokens.GetTokenAsync("acme").AsTask())).ToArray();
        Task<M3terToken>[] b = Enumerable.Range(0, 100).Select(_ => Task.Run(() => tokens.GetTokenAsync("globex").AsTask())).ToArray();
        await WaitUntil(() => host.M3ter.TokenRequests == 2);
        host.M3ter.Gate.SetResult();
        M3terToken[] acme = await Task.WhenAll(a);
        M3terToken[] globex = await Task.WhenAll(b);

        Assert.Equal(1, host.M3ter.TokenRequestsWith("key-acme"));
        Assert.Equal(1, host.M3ter.TokenRequestsWith("key-globex"));
        Assert.All(acme, t => Assert.Equal("acme", FakeOrganizations.OrgOf(t.AccessToken)));
        Assert.All(globex, t => Assert.Equal("globex", FakeOrganizations.OrgOf(t.AccessToken)));
        Assert.Single(acme.Select(t => t.AccessToken).Distinct());
    }

    [Fact]
    public async Task ConcurrentFirstCallers_ShareOneLookup_AndAHeldTenantIsNotLookedUpAgain()
    {
        using var host = new TenantHost(tenants: 1);
        host.Store.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<M3terToken>[] callers = Enumerable.Range(0, 50).Select(_ => Task.Run(() => host.Tokens.GetTokenAsync("t0").AsTask())).ToArray();
        await WaitUntil(() => host.Store.Lookups == 1);
        await Task.Delay(50);
        host.Store.Gate.SetResult();
        await Task.WhenAll(callers);
        for (int i = 0; i < 20; i++)
        {
            await host.Tokens.GetTokenAsync("t0");
        }

        Assert.Equal(1, host.Store.LookupsOf("t0"));
        Assert.Equal(1, host.M3ter.TokenRequests);
    }

    [Fact]
    public async Task AnUnknownTenant_FailsNamingTheTenant_AndIsRememberedBriefly()
    {
        using var host = new TenantHost();
        for (int i = 0; i < 50; i++)
        {
            var ex = await Assert.ThrowsAsync<M3terAuthException>(() => host.Tokens.GetTokenAsync("nobody").AsTask());
            Assert.Contains("'nobody'", ex.Message, StringComparison.Ordinal);
            Assert.Contains("unknown", ex.Message, StringComparison.Ordinal);
        }

        Assert.Equal(1, host.Store.LookupsOf("nobody"));
        Assert.Equal(0, host.M3ter.TokenRequests);

        host.Time.Advance(TimeSpan.FromSeconds(11)); // past UnknownTenantCacheDuration
        host.Add("nobody");
        Assert.Equal("nobody", FakeOrganizations.OrgOf((await host.Tokens.GetTokenAsync("nobody")).AccessToken));
        Assert.Equal(2, host.Store.LookupsOf("nobody"));
    }

    [Fact]
    public async Task Forget_DropsAnUnknownTenantsMemory_AndAHeldTenantsCredentials()
    {
        using var host = new TenantHost();
        await Assert.ThrowsAsync<M3terAuthException>(() => host.Tokens.GetTokenAsync("late").AsTask());
        host.Add("late");
        host.Tokens.Forget("late");
        M3terToken first = await host.Tokens.GetTokenAsync("late");

        host.Store.Set("late", "key-late-2", "secret-late-2", "late");
        host.M3ter.AddKey("key-late-2", "secret-late-2", "late");
        Assert.Same(first, await host.Tokens.GetTokenAsync("late")); // held: the store is not asked
        host.Tokens.Forget("late");
        M3terToken second = await host.Tokens.GetTokenAsync("late");

        Assert.Equal(3, host.Store.LookupsOf("late"));
        Assert.Contains(".key-late-2.", second.AccessToken, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStoreThatThrows_FailsThatCall_WithItsExceptionInside_AndIsAskedAgainNextTime()
    {
        using var host = new TenantHost(tenants: 1);
        var failure = new InvalidOperationException("connection string Password=hunter2 failed");
        host.Store.Failure = failure;
        var ex = await Assert.ThrowsAsync<M3terAuthException>(() => host.Tokens.GetTokenAsync("t0").AsTask());
        Assert.Same(failure, ex.InnerException);
        Assert.Contains("'t0'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);

        host.Store.Failure = null;
        await host.Tokens.GetTokenAsync("t0");
        Assert.Equal(2, host.Store.LookupsOf("t0"));
    }

    [Fact]
    public async Task InvalidCredentialsFromTheStore_FailWithATypedErrorThatNamesTheTenantButNotTheSecret()
    {
        using var other = new TenantHostWithDelegate((tenant, _) => new ValueTask<M3terCredentials?>(new M3terCredentials("key", "secret-never-shown") { BaseAddress = new Uri("http://m3ter.example.com/") }));

        var ex = await Assert.ThrowsAsync<M3terAuthException>(() => other.Tokens.GetTokenAsync("plain").AsTask());

        Assert.Contains("'plain'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("BaseAddress must use https", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-never-shown", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AtMostMaxTenantsAreHeld_TheLeastRecentlyUsedGoesFirst()
    {
        using var host = new TenantHost(o => o.MaxTenants = 2, tenants: 3);
        await host.Tokens.GetTokenAsync("t0");
        await host.Tokens.GetTokenAsync("t1");
        await host.Tokens.GetTokenAsync("t0"); // t1 is now the least recently used
        await host.Tokens.GetTokenAsync("t2"); // makes room: t1 goes

        await host.Tokens.GetTokenAsync("t0");
        Assert.Equal(1, host.Store.LookupsOf("t0"));
        await host.Tokens.GetTokenAsync("t1");
        Assert.Equal(2, host.Store.LookupsOf("t1"));
        Assert.Equal(2, host.Services.GetRequiredService<M3ter.Auth.Tenants.TenantCache>().Count);
    }

    [Fact]
    public async Task ATenantUnusedForTheIdleTimeout_IsDropped_AndOneInUseIsNot()
    {
        using var host = new TenantHost(o => o.IdleTimeout = TimeSpan.FromMinutes(30), tenants: 2);
        await host.Tokens.GetTokenAsync("t0");
        await host.Tokens.GetTokenAsync("t1");

        host.Time.Advance(TimeSpan.FromMinutes(20));
        await host.Tokens.GetTokenAsync("t1"); // t1 used at 20 minutes
        host.Time.Advance(TimeSpan.FromMinutes(11)); // 31 minutes: t0 idle for 31, t1 for 11

        var cache = host.Services.GetRequiredService<M3ter.Auth.Tenants.TenantCache>();
        Assert.Equal(1, cache.Count);
        host.Time.Advance(TimeSpan.FromMinutes(20)); // 51 minutes: t1 idle for 31
        Assert.Equal(0, cache.Count);

        await host.Tokens.GetTokenAsync("t0");
        Assert.Equal(2, host.Store.LookupsOf("t0"));
    }

    [Fact]
    public async Task ADroppedTenantsTimersStop()
    {
        using var host = new TenantHost(o => { o.MaxTenants = 1; o.IdleTimeout = Timeout.InfiniteTimeSpan; }, tenants: 2);
        await host.Tokens.GetTokenAsync("t0");
        await host.Tokens.GetTokenAsync("t1"); // t0 dropped
        int before = host.M3ter.TokenRequests;

        for (int minutes = 0; minutes < 6 * 60; minutes += 5)
        {
            host.Time.Advance(TimeSpan.FromMinutes(5)); // past both tokens' refresh points, in steps, as time passes
        }

        await WaitUntil(() => host.M3ter.TokenRequestsWith("key-t1") == 2); // t1's refresh
        await Task.Delay(200);

        Assert.Equal(1, host.M3ter.TokenRequestsWith("key-t0")); // t0's timer stopped with it
        Assert.Equal(before + 1, host.M3ter.TokenRequests);
    }

    [Fact]
    public async Task RotatedCredentials_AreLookedUpAgainWhenM3terRefusesTheOldOnes_AndNoCallFails()
    {
        using var host = new TenantHost(tenants: 1);
        await host.Tokens.GetTokenAsync("t0");

        // The customer generates a new key, stores it, deactivates the old one; the old token stops working.
        host.M3ter.AddKey("key-t0-new", "secret-new", "t0");
        host.Store.Set("t0", "key-t0-new", "secret-new");
        host.M3ter.RemoveKey("key-t0");
        host.Time.Advance(TimeSpan.FromHours(5)); // the old token expired: the next call needs a new one

        M3terToken token = await host.Tokens.GetTokenAsync("t0");

        Assert.Contains(".key-t0-new.", token.AccessToken, StringComparison.Ordinal);
        Assert.Equal(2, host.Store.LookupsOf("t0"));
    }

    [Fact]
    public async Task RefusedCredentials_WithNothingNewInTheStore_Fail_AndTheStoreIsNotAskedOnEveryCall()
    {
        using var host = new TenantHost(tenants: 1);
        host.M3ter.RemoveKey("key-t0");
        for (int i = 0; i < 20; i++)
        {
            var ex = await Assert.ThrowsAsync<M3terAuthException>(() => host.Tokens.GetTokenAsync("t0").AsTask());
            Assert.Equal(HttpStatusCode.Unauthorized, ex.StatusCode);
            Assert.Contains("'t0'", ex.Message, StringComparison.Ordinal);
        }

        Assert.Equal(2, host.Store.LookupsOf("t0")); // the lookup, and one recheck after the refusal
        Assert.Equal(1, host.M3ter.TokenRequests); // the refusal is remembered
    }

    [Fact]
    public async Task Invalidate_MakesTheNextCallFetchANewTokenForThatTenantOnly()
    {
        using var host = new TenantHost(tenants: 2);
        M3terToken a = await host.Tokens.GetTokenAsync("t0");
        M3terToken b = await host.Tokens.GetTokenAsync("t1");

        host.Tokens.Invalidate("t0", a);

        Assert.NotEqual(a.AccessToken, (await host.Tokens.GetTokenAsync("t0")).AccessToken);
        Assert.Same(b, await host.Tokens.GetTokenAsync("t1"));
    }

    [Fact]
    public async Task BadArguments_AreTypedErrors()
    {
        using var host = new TenantHost();
        await Assert.ThrowsAsync<ArgumentNullException>(() => host.Tokens.GetTokenAsync(null!).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => host.Tokens.GetTokenAsync(string.Empty).AsTask());
        Assert.Throws<ArgumentNullException>(() => host.Tokens.Forget(null!));
        Assert.Throws<ArgumentNullException>(() => host.Tokens.Invalidate("t", null!));
        Assert.Throws<ArgumentException>(() => new M3terCredentials(" ", "secret"));
        Assert.Throws<ArgumentNullException>(() => new M3terCredentials("key", null!));
    }

    [Fact]
    public void Credentials_ToString_NeverShowsTheSecret()
    {
        var credentials = new M3terCredentials("key-1", "very-secret-value") { OrganizationId = "org-1" };

        string text = credentials.ToString();

        Assert.Contains("key-1", text, StringComparison.Ordinal);
        Assert.Contains("org-1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("very-secret-value", text, StringComparison.Ordinal);
        Assert.Equal(new Uri("https://api.m3ter.com/"), credentials.BaseAddress);
        Assert.Equal(new Uri("https://ingest.m3ter.com/"), credentials.IngestBaseAddress); // as M3terAuthOptions derives it
        Assert.Equal(new Uri("https://ingest.eu.m3ter.com/"), new M3terCredentials("k", "s") { BaseAddress = new Uri("https://api.eu.m3ter.com/") }.IngestBaseAddress);
    }

    internal static async Task WaitUntil(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(5, timeout.Token);
        }
    }
}

/// <summary>A container with the delegate overload of AddM3terAuthTenants.</summary>
internal sealed class TenantHostWithDelegate : IDisposable
{
    public TenantHostWithDelegate(Func<string, CancellationToken, ValueTask<M3terCredentials?>> source)
    {
        var services = new ServiceCollection();
        services.AddM3terAuthTenants(source, o => o.RetryDelay = TimeSpan.Zero);
        Services = services.BuildServiceProvider();
    }

    public ServiceProvider Services { get; }

    public IM3terTenantTokenProvider Tokens => Services.GetRequiredService<IM3terTenantTokenProvider>();

    public void Dispose() => Services.Dispose();
}
