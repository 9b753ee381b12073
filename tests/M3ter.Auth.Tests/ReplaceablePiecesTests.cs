using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
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
}
