using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace M3ter.Auth.IntegrationTests;

public sealed class CredentialRotationTests
{
    private static string Basic(string key, string secret) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(key + ":" + secret));

    [Fact]
    public async Task RotatingTheKeyThroughConfiguration_SwitchesToTheNewKey_WithoutRestartOrFailedCalls()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        const string newKey = "rotated-key", newSecret = "rotated-secret-0123456789";
        m3ter.AddCredentials(newKey, newSecret); // step 1 in m3ter: generate the new key
        var source = new ReloadableConfigurationSource(Settings(m3ter, m3ter.AccessKeyId, m3ter.ApiSecret));
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Information).AddProvider(logs));
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Add(source).Build());
        services.AddM3terAuth();
        services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();
        HttpClient api = sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");

        using var stop = new CancellationTokenSource();
        int failures = 0, calls = 0;
        Task[] workers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using HttpResponseMessage response = await api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative));
                    Interlocked.Increment(ref calls);
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })).ToArray();

        await Task.Delay(300);
        source.Provider.Replace(Settings(m3ter, newKey, newSecret)); // step 2: deploy the new key by configuration
        await Task.Delay(300);
        int requestsBeforeDeactivation = m3ter.Requests.Count;
        m3ter.RemoveCredentials(m3ter.AccessKeyId);             // step 3 in m3ter: mark the old key inactive
        m3ter.RevokeTokensOlderThan(TimeSpan.FromMilliseconds(250)); // and its tokens with it
        await Task.Delay(300);
        stop.Cancel();
        await Task.WhenAll(workers);

        Assert.Equal(0, failures);
        Assert.True(calls > 50, $"only {calls} calls");
        string[] tokenRequests = m3ter.Requests.Where(r => r.Kind == M3terRequestKind.Token).Select(r => r.Authorization!).ToArray();
        Assert.Equal(Basic(m3ter.AccessKeyId, m3ter.ApiSecret), tokenRequests[0]);
        Assert.Equal(Basic(newKey, newSecret), tokenRequests[^1]);
        // Once the new key was deployed the old one was never used again.
        int firstNew = Array.IndexOf(tokenRequests, Basic(newKey, newSecret));
        Assert.True(firstNew > 0);
        Assert.All(tokenRequests[firstNew..], t => Assert.Equal(Basic(newKey, newSecret), t));
        Assert.True(m3ter.Requests.Skip(requestsBeforeDeactivation).Where(r => r.Kind == M3terRequestKind.Token).All(r => r.StatusCode == 200));
        Assert.Contains(logs.Logs, l => l.EventId.Name == "OptionsChanged");
        Assert.DoesNotContain(newSecret, logs.AllText, StringComparison.Ordinal);
    }

    private static Dictionary<string, string?> Settings(M3terEmulator m3ter, string key, string secret) => new()
    {
        ["M3ter:AccessKeyId"] = key,
        ["M3ter:ApiSecret"] = secret,
        ["M3ter:OrganizationId"] = m3ter.OrganizationId,
        ["M3ter:BaseAddress"] = m3ter.BaseAddress.ToString(),
    };
}

public sealed class PreIssuedTokenTests
{
    [Fact]
    public async Task PreIssuedToken_IsUsedAsIs_WithNoTokenRequest()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        string token = m3ter.CreatePreIssuedToken(TimeSpan.FromHours(1));
        var services = new ServiceCollection();
        services.AddM3terAuth(o => { o.BaseAddress = m3ter.BaseAddress; o.AccessToken = token; });
        services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();
        HttpClient api = sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");

        for (int i = 0; i < 5; i++)
        {
            using HttpResponseMessage response = await api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(0, m3ter.TokenRequestCount);
        Assert.All(m3ter.Requests, r => Assert.Equal(token, r.BearerToken));
    }

    [Fact]
    public async Task ExpiredPreIssuedJwt_FailsWithAClearError_InsteadOfSilent403s()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        string token = m3ter.CreatePreIssuedToken(TimeSpan.FromSeconds(-5));
        var services = new ServiceCollection();
        services.AddM3terAuth(o => { o.BaseAddress = m3ter.BaseAddress; o.AccessToken = token; });
        services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();

        var error = await Assert.ThrowsAsync<M3terAuthException>(() =>
            sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter").GetAsync(new Uri($"organizations/{m3ter.OrganizationId}", UriKind.Relative)));

        Assert.Contains("expired at", error.Message, StringComparison.Ordinal);
        Assert.Empty(m3ter.Requests);
    }
}
