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
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null, MaxRecordedRequests = 1_000_000 });
        const string newKey = "rotated-key", newSecret = "rotated-secret-0123456789";
        m3ter.AddCredentials(newKey, newSecret); // step 1 in m3ter: generate the new key
        var (source, logs, sp, api) = ConfiguredByReloadableSource(m3ter);
        await using ServiceProvider services = sp;
        (await api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative))).Dispose(); // compiled and warm: the load measures the rotation, not start-up

        int requestsBeforeDeactivation = 0;
        CallLoadResult load = await CallLoad.RunAsync(8, _ => api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative)), async () =>
        {
            await Task.Delay(300);
            source.Provider.Replace(Settings(m3ter, newKey, newSecret)); // step 2: deploy the new key by configuration
            await Task.Delay(300);
            requestsBeforeDeactivation = m3ter.Requests.Count;
            m3ter.RemoveCredentials(m3ter.AccessKeyId);             // step 3 in m3ter: mark the old key inactive
            m3ter.RevokeTokensOlderThan(TimeSpan.FromMilliseconds(250)); // and its tokens with it
            await Task.Delay(300);
        });

        Assert.True(load.Failed == 0, load.Describe());
        Assert.True(load.Calls > 16, $"only {load.Calls} calls"); // on a saturated 2-core machine, far fewer than on a quiet one
        string[] tokenRequests = m3ter.Requests.Where(r => r.Kind == M3terRequestKind.Token).Select(r => r.Authorization!).ToArray();
        Assert.Equal(Basic(m3ter.AccessKeyId, m3ter.ApiSecret), tokenRequests[0]);
        Assert.Equal(Basic(newKey, newSecret), tokenRequests[^1]);
        // Once the new key was deployed the old one was never used again.
        int firstNew = Array.IndexOf(tokenRequests, Basic(newKey, newSecret));
        Assert.True(firstNew > 0);
        Assert.All(tokenRequests[firstNew..], t => Assert.Equal(Basic(newKey, newSecret), t));
        Assert.True(m3ter.Requests.Skip(requestsBeforeDeactivation).Where(r => r.Kind == M3terRequestKind.Token).All(r => r.StatusCode == 200));
        Assert.Contains(logs.Logs, l => l.EventId.Name == "OptionsChanged");
        AssertNoSecrets(m3ter, logs, newSecret, Basic(newKey, newSecret));
    }

    [Fact]
    public async Task KeyAndSecretRotatedInTwoReloads300msApart_NoCallFails_AndAfterTheSwitchOnlyTheNewPairIsUsed()
    {
        // Two configuration sources (or a vault) update the key before the secret: for 300 ms the configured pair is
        // the new key with the old secret, which m3ter refuses. Both real pairs stay valid at the server throughout.
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null, MaxRecordedRequests = 1_000_000 });
        const string newKey = "rotated-key-2", newSecret = "rotated-secret-2-0123456789";
        m3ter.AddCredentials(newKey, newSecret);
        var (source, logs, sp, api) = ConfiguredByReloadableSource(m3ter);
        await using ServiceProvider services = sp;
        (await api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative))).Dispose(); // compiled and warm: the load measures the rotation, not start-up

        CallLoadResult load = await CallLoad.RunAsync(8, _ => api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative)), async () =>
        {
            await Task.Delay(300);
            source.Provider.Replace(Settings(m3ter, newKey, m3ter.ApiSecret)); // the key arrives first…
            await Task.Delay(300);
            source.Provider.Replace(Settings(m3ter, newKey, newSecret));       // …the secret 300 ms later
            await Task.Delay(600);
        });

        Assert.True(load.Failed == 0, load.Describe());
        Assert.True(load.Calls > 16, $"only {load.Calls} calls"); // on a saturated 2-core machine, far fewer than on a quiet one
        M3terRecordedRequest[] tokenRequests = m3ter.Requests.Where(r => r.Kind == M3terRequestKind.Token).ToArray();
        Assert.Equal(Basic(m3ter.AccessKeyId, m3ter.ApiSecret), tokenRequests[0].Authorization);
        int switched = Array.FindIndex(tokenRequests, r => r.Authorization == Basic(newKey, newSecret) && r.StatusCode == 200);
        Assert.True(switched > 0, "the new pair never produced a token");
        Assert.All(tokenRequests[switched..], r => Assert.Equal(Basic(newKey, newSecret), r.Authorization));

        // Once the new pair works, the old pair's token is not used: API requests that arrive after the switch (allowing
        // 100 ms for requests already on the wire) carry tokens the new pair obtained.
        DateTimeOffset switchedAt = tokenRequests[switched].ReceivedAt;
        string[] oldTokens = m3ter.Requests.Where(r => r.Kind != M3terRequestKind.Token && r.ReceivedAt < tokenRequests[0].ReceivedAt.AddMilliseconds(250)).Select(r => r.BearerToken!).Distinct().ToArray();
        Assert.NotEmpty(oldTokens);
        Assert.DoesNotContain(m3ter.Requests.Where(r => r.Kind != M3terRequestKind.Token && r.ReceivedAt > switchedAt.AddMilliseconds(100)), r => oldTokens.Contains(r.BearerToken));
        AssertNoSecrets(m3ter, logs, newSecret, Basic(newKey, newSecret), Basic(newKey, m3ter.ApiSecret));
    }

    /// <summary>Asserts nothing secret reached the logs (captured at Trace): secrets, Basic values and every token issued.</summary>
    internal static void AssertNoSecrets(M3terEmulator m3ter, CapturingLoggerProvider logs, params string[] more)
    {
        string all = logs.AllText;
        Assert.NotEmpty(all);
        Assert.DoesNotContain(m3ter.ApiSecret, all, StringComparison.Ordinal);
        Assert.DoesNotContain(Basic(m3ter.AccessKeyId, m3ter.ApiSecret)["Basic ".Length..], all, StringComparison.Ordinal);
        foreach (string secret in more)
        {
            Assert.DoesNotContain(secret.StartsWith("Basic ", StringComparison.Ordinal) ? secret["Basic ".Length..] : secret, all, StringComparison.Ordinal);
        }

        foreach (string token in m3ter.IssuedTokens)
        {
            Assert.DoesNotContain(token, all, StringComparison.Ordinal);
        }
    }

    /// <summary>AddM3terAuth() reading a configuration source the test reloads, with every log line captured at Trace.</summary>
    private static (ReloadableConfigurationSource Source, CapturingLoggerProvider Logs, ServiceProvider Services, HttpClient Api) ConfiguredByReloadableSource(M3terEmulator m3ter)
    {
        var source = new ReloadableConfigurationSource(Settings(m3ter, m3ter.AccessKeyId, m3ter.ApiSecret));
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Add(source).Build());
        services.AddM3terAuth();
        services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
        ServiceProvider sp = services.BuildServiceProvider();
        return (source, logs, sp, sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter"));
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
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null, MaxRecordedRequests = 1_000_000 });
        string token = m3ter.CreatePreIssuedToken(TimeSpan.FromHours(1));
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
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
        CredentialRotationTests.AssertNoSecrets(m3ter, logs, token);
    }

    [Fact]
    public async Task ExpiredPreIssuedJwt_FailsWithAClearError_InsteadOfSilent403s()
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null, MaxRecordedRequests = 1_000_000 });
        string token = m3ter.CreatePreIssuedToken(TimeSpan.FromSeconds(-5));
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        services.AddM3terAuth(o => { o.BaseAddress = m3ter.BaseAddress; o.AccessToken = token; });
        services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
        await using ServiceProvider sp = services.BuildServiceProvider();

        var error = await Assert.ThrowsAsync<M3terAuthException>(() =>
            sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter").GetAsync(new Uri($"organizations/{m3ter.OrganizationId}", UriKind.Relative)));

        Assert.Contains("expired at", error.Message, StringComparison.Ordinal);
        Assert.Empty(m3ter.Requests);
        Assert.DoesNotContain(token, error.ToString(), StringComparison.Ordinal);
        CredentialRotationTests.AssertNoSecrets(m3ter, logs, token);
    }
}
