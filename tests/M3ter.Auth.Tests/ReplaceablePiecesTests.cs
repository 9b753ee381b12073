using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Time.Testing;
using M3ter.Auth.Internal;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace M3ter.Auth.Tests;

/// <summary>
/// The pieces <c>AddM3terAuth</c> registers that an application (or a test) replaces through the container: the token
/// client, the provider factory, and the remaining-lifetime gauge, which is the container's and ends with it.
/// </summary>
public sealed class ReplaceablePiecesTests
{
    [Fact]
    public async Task AnITokenClientInTheContainer_IsTheDefaultRegistrationsTokenClient()
    {
        using var host = new TestHost(services: services => services.AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => new DelegateHandler((_, _) => throw new InvalidOperationException("the token endpoint was called"))));

        M3terToken token = await host.Services.GetRequiredService<ITokenProvider>().GetTokenAsync();

        Assert.Equal("token-1", token.AccessToken);
        Assert.Equal(1, host.Tokens.Calls);
    }

    [Fact]
    public async Task AKeyedITokenClient_IsThatNamedRegistrationsTokenClient_AndNoOtherOnes()
    {
        var endpointCalls = 0;
        using var host = new TestHost(name: "eu", services: services =>
        {
            services.AddM3terAuth("us", o => { o.AccessKeyId = "us-key"; o.ApiSecret = "us-secret"; o.MaxRetryAttempts = 0; });
            services.AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => new DelegateHandler((_, _) =>
            {
                Interlocked.Increment(ref endpointCalls);
                return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = new StringContent("{\"access_token\":\"from-the-endpoint\",\"expires_in\":3600}") });
            }));
        });

        M3terToken eu = await host.Services.GetRequiredKeyedService<ITokenProvider>("eu").GetTokenAsync();
        M3terToken us = await host.Services.GetRequiredKeyedService<ITokenProvider>("us").GetTokenAsync();

        Assert.Equal("token-1", eu.AccessToken);
        Assert.Equal("from-the-endpoint", us.AccessToken);
        Assert.Equal(1, host.Tokens.Calls);
        Assert.Equal(1, endpointCalls);
    }

    [Fact]
    public async Task AReplacedTokenClient_ServesTheProviderBuiltAtAReload()
    {
        var source = new ReloadableConfigurationSource(new Dictionary<string, string?> { ["M3ter:OrganizationId"] = "org-1" });
        using var host = new TestHost(
            configure: null,
            services: s => s.AddSingleton<IConfiguration>(new ConfigurationBuilder().Add(source).Build())
                .AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => new DelegateHandler((_, _) => throw new InvalidOperationException("the token endpoint was called"))));
        var registration = host.Services.GetRequiredKeyedService<M3terAuthRegistration>(Options.DefaultName);
        M3terToken first = await registration.GetTokenAsync();
        TokenProvider before = registration.Provider;

        source.Provider.Replace(new Dictionary<string, string?> { ["M3ter:OrganizationId"] = "org-2" });
        registration.Invalidate(first);
        M3terToken second = await registration.GetTokenAsync();

        Assert.NotSame(before, registration.Provider); // the reload built a provider of its own...
        Assert.Equal("org-2", registration.Options.OrganizationId);
        Assert.Equal("token-2", second.AccessToken); // ...whose token came from the same replaced client
        Assert.Equal(2, host.Tokens.Calls);
    }

    [Fact]
    public void TheProviderFactoryAndTheGauge_AreAddedOnce_AndOnlyWhenNoneIsThere()
    {
        var services = new ServiceCollection();
        services.AddM3terAuth(o => { o.AccessKeyId = "k"; o.ApiSecret = "s"; });
        services.AddM3terAuth("eu", o => { o.AccessKeyId = "k"; o.ApiSecret = "s"; });
        services.AddM3terAuthTenants((tenant, _) => new ValueTask<M3terCredentials?>((M3terCredentials?)null));

        Assert.Single(services, d => d.ServiceType == typeof(TokenProviderFactory));
        Assert.Single(services, d => d.ServiceType == typeof(RemainingLifetimeGauge));

        var own = new ServiceCollection();
        own.AddSingleton(sp => new RemainingLifetimeGauge(meterFactory: null));
        own.AddM3terAuth(o => { o.AccessKeyId = "k"; o.ApiSecret = "s"; });
        Assert.Single(own, d => d.ServiceType == typeof(RemainingLifetimeGauge));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TheRemainingLifetimeGauge_IsTheContainers_ReportsItsRegistrations_AndEndsWithIt(bool containerHasMeterFactory)
    {
        var observed = new ConcurrentQueue<(Meter Meter, string Registration, double Seconds)>();
        var completed = new ConcurrentQueue<Meter>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "M3ter.Auth" && instrument.Name == "m3ter.auth.token.remaining_lifetime")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.MeasurementsCompleted = (instrument, _) => completed.Enqueue(instrument.Meter);
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
            observed.Enqueue((instrument.Meter, (string)tags.ToArray().Single(t => t.Key == "m3ter.auth.registration").Value!, value)));
        listener.Start();

        Action<IServiceCollection> services = s =>
        {
            if (containerHasMeterFactory)
            {
                s.AddMetrics();
            }
            else
            {
                s.AddSingleton(_ => new RemainingLifetimeGauge(meterFactory: null)); // a gauge put in by hand, on a meter of its own
            }
        };
        var first = new TestHost(name: "first", services: services);
        using var second = new TestHost(name: "second", services: services);
        await first.Services.GetRequiredKeyedService<ITokenProvider>("first").GetTokenAsync();
        await second.Services.GetRequiredKeyedService<ITokenProvider>("second").GetTokenAsync();
        first.Time.Advance(TimeSpan.FromHours(1));

        listener.RecordObservableInstruments();
        Assert.Contains(observed, o => o.Registration == "first" && o.Seconds == TimeSpan.FromHours(4).TotalSeconds);
        Assert.Contains(observed, o => o.Registration == "second" && o.Seconds == TimeSpan.FromHours(5).TotalSeconds);
        Meter firstMeter = observed.Single(o => o.Registration == "first").Meter;
        Assert.NotSame(firstMeter, observed.Single(o => o.Registration == "second").Meter); // one meter per container, not one for the process
        if (containerHasMeterFactory)
        {
            Assert.Same(first.Services.GetRequiredService<IMeterFactory>(), firstMeter.Scope);
        }

        first.Dispose();
        Assert.Contains(firstMeter, completed); // the container's gauge ended with it
        observed.Clear();
        listener.RecordObservableInstruments();
        Assert.DoesNotContain(observed, o => o.Registration == "first");
        Assert.Contains(observed, o => o.Registration == "second");
    }

    [Fact]
    public async Task APreIssuedAccessToken_IsServedAsItIs_EvenWithAnITokenClientInTheContainer()
    {
        using var host = new TestHost(configure: o => o.AccessToken = "pre-issued-token");

        M3terToken token = await host.Services.GetRequiredService<ITokenProvider>().GetTokenAsync();

        Assert.Equal("pre-issued-token", token.AccessToken);
        Assert.Equal(0, host.Tokens.Calls);
    }

    [Fact]
    public void AReplacedTokenClient_LeavesTheOptionsValidatedAsAlways()
    {
        using var host = new TestHost(defaults: false);

        var failure = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<ITokenProvider>());

        Assert.Contains("M3ter:AccessKeyId is required", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RegistrationsWithTokenClientsOfTheirOwn_DoNotUseTheFleetCache()
    {
        // Two registrations with the same credentials and a client each: a fleet cache keyed by the credentials, as
        // Redis is, would serve the second the first one's token.
        var cache = new ScopedSharedCache();
        FakeTimeProvider clock = TestOptions.Clock();
        var us = new FakeTokenClient(clock) { Behaviour = call => Task.FromResult(new M3terToken("us-" + call, "Bearer", clock.GetUtcNow().AddHours(5), clock.GetUtcNow())) };
        using var host = new TestHost(name: "eu", services: s =>
        {
            s.AddSingleton<ISharedTokenCache>(cache);
            s.AddM3terAuth("us", o => { o.AccessKeyId = TestOptions.KeyId; o.ApiSecret = TestOptions.Secret; });
            s.AddKeyedSingleton<ITokenClient>("us", us);
        });

        M3terToken eu = await host.Services.GetRequiredKeyedService<ITokenProvider>("eu").GetTokenAsync();
        M3terToken other = await host.Services.GetRequiredKeyedService<ITokenProvider>("us").GetTokenAsync();

        Assert.Equal("token-1", eu.AccessToken);
        Assert.Equal("us-1", other.AccessToken); // its own client was asked, not the cache
        Assert.Equal(0, cache.Writes);
    }

    [Fact]
    public void AContainerDroppedWithoutDispose_IsCollected()
    {
        (WeakReference registration, WeakReference container) = BuildAndDrop();
        for (int i = 0; i < 5 && (registration.IsAlive || container.IsAlive); i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }

        Assert.False(container.IsAlive, "the container dropped without Dispose is still reachable (the gauge holds it?)");
        Assert.False(registration.IsAlive, "its registration is still reachable");
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (WeakReference Registration, WeakReference Container) BuildAndDrop()
    {
        var services = new ServiceCollection();
        services.AddM3terAuth(o => { o.AccessKeyId = "k"; o.ApiSecret = "s"; });
        ServiceProvider sp = services.BuildServiceProvider();
        ITokenProvider provider = sp.GetRequiredService<ITokenProvider>();
        return (new WeakReference(provider), new WeakReference(sp));
    }

    /// <summary>A shared cache keyed by the scope (base address, key id, a key derived from the secret), as Redis is; counts writes.</summary>
    private sealed class ScopedSharedCache : ISharedTokenCache
    {
        private readonly ConcurrentDictionary<string, M3terToken> _tokens = new();
        private int _writes;

        public int Writes => Volatile.Read(ref _writes);

        public TimeSpan LeaseWaitTimeout => TimeSpan.FromSeconds(1);

        public string? Unavailable => null;

        public ValueTask<M3terToken?> ReadAsync(SharedTokenScope scope, CancellationToken cancellationToken = default) =>
            new(_tokens.TryGetValue(Key(scope), out M3terToken? token) ? token : null);

        public ValueTask<bool> TryAcquireLeaseAsync(SharedTokenScope scope, CancellationToken cancellationToken = default) => new(true);

        public ValueTask ReleaseLeaseAsync(SharedTokenScope scope, CancellationToken cancellationToken = default) => default;

        public ValueTask WriteIfNewerAsync(SharedTokenScope scope, M3terToken token, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _writes);
            _tokens.AddOrUpdate(Key(scope), token, (_, old) => token.ExpiresAt > old.ExpiresAt ? token : old);
            return default;
        }

        public ValueTask RemoveIfHoldsAsync(SharedTokenScope scope, M3terToken token, CancellationToken cancellationToken = default)
        {
            _tokens.TryRemove(new KeyValuePair<string, M3terToken>(Key(scope), token));
            return default;
        }

        private static string Key(SharedTokenScope scope) => scope.BaseAddress + "|" + scope.AccessKeyId + "|" + Convert.ToHexString(scope.DeriveKey("key", 16));
    }
}
