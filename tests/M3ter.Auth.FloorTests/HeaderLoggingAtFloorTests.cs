using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace M3ter.Auth.FloorTests;

public sealed class HeaderLoggingAtFloorTests
{
    private const string Secret = "floor-secret-Value-That-Must-Never-Leak";
    private const string AccessToken = "floor-access-token-that-must-never-leak";
    private static readonly string BasicValue = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("floor-key:" + Secret));

    /// <summary>Plays m3ter: a token endpoint and an API, in memory.</summary>
    private sealed class FakeM3ter : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(request.RequestUri!.AbsolutePath == "/oauth/token"
                ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{\"access_token\":\"" + AccessToken + "\",\"expires_in\":18000}") }
                : new HttpResponseMessage(HttpStatusCode.OK));
    }

    private static ServiceProvider Build(CapturingLoggerProvider logs)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        services.AddM3terAuth(o => { o.AccessKeyId = "floor-key"; o.ApiSecret = Secret; });
        services.AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => new FakeM3ter());
        services.AddHttpClient("m3ter", c => c.DefaultRequestHeaders.Add("X-Visible", "visible-value"))
            .AddM3terAuthHandler()
            .ConfigurePrimaryHttpMessageHandler(() => new FakeM3ter());
        services.AddHttpClient("hand-rolled").ConfigurePrimaryHttpMessageHandler(() => new FakeM3ter());
        return services.BuildServiceProvider();
    }

    [Fact]
    public void TheFloor_IsReallyTheEightLineWithoutAspNetCore()
    {
        Assert.Equal(8, typeof(IHttpClientFactory).Assembly.GetName().Version!.Major);
        Assert.Equal(8, typeof(ServiceCollection).Assembly.GetName().Version!.Major);
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name!.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TraceLogging_OnTheEightLine_ShowsHeadersButNeverOurCredentials()
    {
        var logs = new CapturingLoggerProvider();
        using ServiceProvider sp = Build(logs);
        var factory = sp.GetRequiredService<IHttpClientFactory>();

        await factory.CreateClient("m3ter").GetAsync(new Uri("https://api.m3ter.com/organizations/o/products"));

        string all = logs.AllText;
        Assert.Contains("X-Visible: visible-value", all, StringComparison.Ordinal); // headers are logged on this line...
        Assert.Contains("Authorization: *", all, StringComparison.Ordinal);        // ...but ours are redacted
        Assert.Contains("System.Net.Http.HttpClient." + TokenClient.HttpClientName + ".ClientHandler", all, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, all, StringComparison.Ordinal);
        Assert.DoesNotContain(BasicValue, all, StringComparison.Ordinal);
        Assert.DoesNotContain(AccessToken, all, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TraceLogging_OnTheEightLine_WouldLeakAnAuthorizationHeaderThatIsNotOurs()
    {
        // The control: the same logging, on a client without our handler, writes an Authorization header verbatim.
        // That is the leak the redaction above prevents; if this ever stops leaking, the test above proves nothing.
        var logs = new CapturingLoggerProvider();
        using ServiceProvider sp = Build(logs);
        HttpClient client = sp.GetRequiredService<IHttpClientFactory>().CreateClient("hand-rolled");
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "hand-rolled-token");

        await client.GetAsync(new Uri("https://example.com/"));

        Assert.Contains("hand-rolled-token", logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenProvider_WorksOnTheFloor()
    {
        var logs = new CapturingLoggerProvider();
        using ServiceProvider sp = Build(logs);

        M3terToken token = await sp.GetRequiredService<ITokenProvider>().GetTokenAsync();

        Assert.Equal(AccessToken, token.AccessToken);
        Assert.True(logs.Logs.Any());
    }
}
