using System;
using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace M3ter.Auth.IntegrationTests;

/// <summary>
/// <c>ConfigureHttpClientDefaults</c> applies to every client, the library's own token client included: the auth
/// handler (the token request must not wait for itself) and .NET Aspire's standard resilience handler (its retries
/// and circuit breaker must not nest inside the token client's own).
/// </summary>
public sealed class HttpClientDefaultsTests
{
    private static readonly TimeSpan NoHang = TimeSpan.FromSeconds(60);

    private static async Task<(ServiceProvider Services, CapturingLoggerProvider Logs)> Build(M3terEmulator m3ter, Action<IServiceCollection> defaults, Action<M3terAuthOptions>? configure = null)
    {
        await Task.CompletedTask;
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        defaults(services);
        services.AddM3terAuth(o =>
        {
            m3ter.Configure(o);
            configure?.Invoke(o);
        });
        services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
        return (services.BuildServiceProvider(), logs);
    }

    [Fact]
    public async Task AuthHandlerOnEveryClient_TheTokenRequestPassesThrough_FirstCallSucceedsAtOnceWithOneTokenRequest()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        var (sp, logs) = await Build(m3ter, s => s.ConfigureHttpClientDefaults(b => b.AddM3terAuthHandler()));
        await using (sp)
        {
            HttpClient api = sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");
            var stopwatch = Stopwatch.StartNew();

            using HttpResponseMessage response = await api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative)).WaitAsync(NoHang);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"the first call took {stopwatch.Elapsed}");
            Assert.Equal(1, m3ter.TokenRequestCount);
            M3terRecordedRequest tokenRequest = Assert.Single(m3ter.Requests, r => r.Kind == M3terRequestKind.Token);
            Assert.StartsWith("Basic ", tokenRequest.Authorization, StringComparison.Ordinal); // not overwritten by a bearer
            CredentialRotationTests.AssertNoSecrets(m3ter, logs);
        }
    }

    [Fact]
    public async Task StandardResilienceHandlerOnEveryClient_DoesNotNestInsideTheTokenClient()
    {
        // Nested, the token client's 3 attempts would each be 3 of the standard handler's (up to 16 token requests),
        // its 2-second back-off would run inside our per-attempt timeout, and its circuit breaker would turn into a
        // non-transient failure. The token client keeps its own pipeline; the API client keeps the resilience handler.
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        m3ter.PersistentTokenFault = M3terFault.Status(HttpStatusCode.ServiceUnavailable, "{\"message\":\"down\"}");
        var (sp, logs) = await Build(
            m3ter,
            s => s.ConfigureHttpClientDefaults(b => b.AddStandardResilienceHandler()),
            o => { o.MaxRetryAttempts = 2; o.RetryDelay = TimeSpan.FromMilliseconds(10); });
        await using (sp)
        {
            HttpClient api = sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");
            var stopwatch = Stopwatch.StartNew();

            var error = await Assert.ThrowsAsync<M3terAuthException>(() => api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative)).WaitAsync(NoHang));

            Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
            Assert.Equal(3, m3ter.TokenRequestCount); // MaxRetryAttempts + 1, not multiplied by the standard handler's retries
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"failing took {stopwatch.Elapsed}");

            // Once the endpoint recovers, the next call gets a token and goes through.
            m3ter.PersistentTokenFault = null;
            using HttpResponseMessage response = await api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative)).WaitAsync(NoHang);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains(logs.Logs, l => l.EventId.Name == "TokenClientHandlerRemoved");
            CredentialRotationTests.AssertNoSecrets(m3ter, logs);
        }
    }
}
