using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using RichardSzalay.MockHttp;

namespace M3ter.Auth.Tests;

public sealed class HealthCheckTests
{
    private readonly FakeTimeProvider _time = TestOptions.Clock();
    private readonly FakeTokenClient _client;
    private readonly TokenProvider _provider;

    public HealthCheckTests()
    {
        _client = new FakeTokenClient(_time);
        _provider = new TokenProvider(_client, TestOptions.Create(), _time) { Random = () => 0 };
    }

    private Task<HealthCheckResult> Check() => new M3terAuthHealthCheck(_provider).CheckHealthAsync(new HealthCheckContext());

    [Fact]
    public async Task ValidToken_IsHealthy()
    {
        await _provider.GetTokenAsync();

        HealthCheckResult result = await Check();

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.DoesNotContain("token-1", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoTokenYet_FetchesOne_AndIsHealthy()
    {
        HealthCheckResult result = await Check();

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal(1, _client.Calls);
    }

    [Fact]
    public async Task RefreshFailingWhileTokenValid_IsDegraded()
    {
        await _provider.GetTokenAsync();
        _client.Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("endpoint down", HttpStatusCode.ServiceUnavailable, null, null));
        _time.Advance(TimeSpan.FromHours(5) - TimeSpan.FromMinutes(4));
        await _provider.GetTokenAsync(); // starts the background refresh, which fails
        for (int i = 0; i < 500 && _provider.Status().RefreshFailures == 0; i++)
        {
            await Task.Delay(10);
        }

        HealthCheckResult result = await Check();

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("endpoint down", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoValidTokenObtainable_IsUnhealthy()
    {
        _client.Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("m3ter rejected the credentials", HttpStatusCode.Unauthorized, "invalid_client", null));

        HealthCheckResult result = await Check();

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("m3ter rejected the credentials", result.Description, StringComparison.Ordinal);
        Assert.IsType<M3terAuthException>(result.Exception);
    }

    [Fact]
    public async Task TokenExpiredAndRefreshFailing_IsUnhealthy()
    {
        await _provider.GetTokenAsync();
        _client.Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("endpoint down", HttpStatusCode.ServiceUnavailable, null, null));
        _time.Advance(TimeSpan.FromHours(6));

        HealthCheckResult result = await Check();

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
    }

    [Fact]
    public async Task RegisteredThroughHealthChecks_ChecksTheDefaultRegistration()
    {
        var tokenEndpoint = new MockHttpMessageHandler();
        tokenEndpoint.When(HttpMethod.Post, "https://api.m3ter.com/oauth/token").Respond("application/json", "{\"access_token\":\"hc\",\"expires_in\":3600}");
        var services = new ServiceCollection().AddLogging();
        services.AddM3terAuth(o => { o.AccessKeyId = "k"; o.ApiSecret = "s"; });
        services.AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => tokenEndpoint);
        services.AddHealthChecks().AddCheck<M3terAuthHealthCheck>("m3ter");
        await using ServiceProvider sp = services.BuildServiceProvider();

        HealthReport report = await sp.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        Assert.Equal(HealthStatus.Healthy, report.Entries["m3ter"].Status);
    }
}

public sealed class WarmUpTests
{
    private static (IHost Host, MockedRequest TokenRequests, MockHttpMessageHandler Endpoint) Build(bool warmUp, HttpStatusCode status = HttpStatusCode.OK, CapturingLoggerProvider? logs = null)
    {
        var endpoint = new MockHttpMessageHandler();
        MockedRequest tokens = endpoint.When(HttpMethod.Post, "https://api.m3ter.com/oauth/token")
            .Respond(status, "application/json", status == HttpStatusCode.OK ? "{\"access_token\":\"warm\",\"expires_in\":3600}" : "{\"error\":\"invalid_client\"}");
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.Services.AddM3terAuth(o => { o.AccessKeyId = "k"; o.ApiSecret = TestOptions.Secret; o.WarmUpOnStart = warmUp; o.MaxRetryAttempts = 0; });
        builder.Services.AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => endpoint);
        return (builder.Build(), tokens, endpoint);
    }

    [Fact]
    public async Task WarmUpOnStart_FetchesTheFirstTokenWhileTheHostStarts()
    {
        var (host, tokens, endpoint) = Build(warmUp: true);
        using (host)
        {
            await host.StartAsync();

            Assert.Equal(1, endpoint.GetMatchCount(tokens));
            ValueTask<M3terToken> first = host.Services.GetRequiredService<ITokenProvider>().GetTokenAsync();
            Assert.True(first.IsCompletedSuccessfully); // the first request pays nothing
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task WarmUpOff_ByDefault_NoTokenUntilTheFirstRequest()
    {
        var (host, tokens, endpoint) = Build(warmUp: false);
        using (host)
        {
            await host.StartAsync();

            Assert.Equal(0, endpoint.GetMatchCount(tokens));
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task WarmUpFailure_IsLoggedOnceAndTheHostStartsAnyway()
    {
        var logs = new CapturingLoggerProvider();
        var (host, tokens, endpoint) = Build(warmUp: true, HttpStatusCode.Unauthorized, logs);
        using (host)
        {
            await host.StartAsync();

            Assert.Equal(1, endpoint.GetMatchCount(tokens));
            Assert.Single(logs.Logs, l => l.EventId.Name == "WarmUpFailed" && l.Level == LogLevel.Warning);
            Assert.DoesNotContain(TestOptions.Secret, logs.AllText, StringComparison.Ordinal);
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task WarmUp_UnreachableEndpoint_DelaysHostStartAtMostTokenRequestTimeout_AndTheRequestGoesOn()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var answer = new TaskCompletionSource<HttpResponseMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var endpoint = new DelegateHandler((_, _) => answer.Task); // a token endpoint that does not answer (yet)
        var logs = new CapturingLoggerProvider();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddM3terAuth(o => { o.AccessKeyId = "k"; o.ApiSecret = TestOptions.Secret; o.WarmUpOnStart = true; o.TokenRequestTimeout = TimeSpan.FromMinutes(5); });
        builder.Services.AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => endpoint);
        using IHost host = builder.Build();

        Task starting = host.StartAsync();
        for (int i = 0; i < 500 && endpoint.Calls == 0; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(1, endpoint.Calls);
        Assert.False(starting.IsCompleted);
        time.Advance(TimeSpan.FromMinutes(5)); // the warm-up's bound: TokenRequestTimeout
        await starting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Single(logs.Logs, l => l.EventId.Name == "WarmUpTimedOut" && l.Level == LogLevel.Warning);

        // The request the warm-up started goes on: the first call joins it instead of starting another.
        answer.SetResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{\"access_token\":\"late\",\"expires_in\":3600}") });
        M3terToken token = await host.Services.GetRequiredService<ITokenProvider>().GetTokenAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("late", token.AccessToken);
        Assert.Equal(1, endpoint.Calls);
        await host.StopAsync();
    }
}
