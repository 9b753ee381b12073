using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace M3ter.Auth.IntegrationTests;

public sealed class PipelineTests : EmulatorTestBase
{
    [Fact]
    public async Task ConfigAndIngestCalls_ShareOneToken_AndEveryRequestCarriesIt()
    {
        for (int i = 0; i < 10; i++)
        {
            using HttpResponseMessage config = await Api.GetAsync(new Uri(OrgPath("/products"), UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, config.StatusCode);
        }

        using HttpResponseMessage ingest = await Ingest.PostAsync(new Uri(OrgPath("/measurements"), UriKind.Relative),
            new StringContent("{\"measurements\":[{\"uid\":\"1\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"2026-11-27T00:00:00Z\"}]}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, ingest.StatusCode);
        Assert.Equal(1, M3ter.TokenRequestCount);
        var apiRequests = M3ter.Requests.Where(r => r.Kind != M3terRequestKind.Token).ToArray();
        Assert.Equal(11, apiRequests.Length);
        Assert.All(apiRequests, r => Assert.Equal(M3ter.IssuedTokens.Single(), r.BearerToken));
        AssertLogsHoldNoSecrets();
    }

    [Fact]
    public async Task HundredsOfConcurrentColdCallers_CauseOneTokenRequest()
    {
        HttpClient api = Api;

        HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(0, 300)
            .Select(_ => Task.Run(() => api.GetAsync(new Uri(OrgPath("/meters"), UriKind.Relative)))));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(1, M3ter.TokenRequestCount);
    }

    [Fact]
    public async Task RevokedToken_IsReplacedAndTheRequestReplayedWithTheSameStreamedBody()
    {
        await Api.GetAsync(new Uri(OrgPath(), UriKind.Relative));
        M3ter.RevokeAllTokens();
        string body = "{\"measurements\":[" + string.Join(",", Enumerable.Range(0, 500).Select(i => $"{{\"uid\":\"{i}\",\"meter\":\"m\",\"account\":\"a\",\"ts\":\"2026-11-27T00:00:00Z\"}}")) + "]}";
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(body)));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        using HttpResponseMessage response = await Ingest.PostAsync(new Uri(OrgPath("/measurements"), UriKind.Relative), content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, M3ter.TokenRequestCount);
        var ingests = M3ter.Requests.Where(r => r.Kind == M3terRequestKind.Ingest).ToArray();
        Assert.Equal(new int?[] { 403, 200 }, ingests.Select(r => r.StatusCode));
        Assert.All(ingests, r => Assert.Equal(body, r.BodyText));
        Assert.NotEqual(ingests[0].BearerToken, ingests[1].BearerToken);
    }

    [Fact]
    public async Task PermanentForbidden_ReachesTheCaller_WithoutATokenRequestPerCall()
    {
        M3ter.DenyPermission("/plans");

        for (int i = 0; i < 25; i++)
        {
            using HttpResponseMessage response = await Api.GetAsync(new Uri(OrgPath("/plans"), UriKind.Relative));
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains("permission", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using HttpResponseMessage allowed = await Api.GetAsync(new Uri(OrgPath("/products"), UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(2, M3ter.TokenRequestCount);
    }

    [Fact]
    public async Task SynchronousSend_WorksThroughTheFactoryPipeline()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(M3ter.BaseAddress, OrgPath("/products")));

        using HttpResponseMessage response = await Task.Run(() => Api.Send(request));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, M3ter.TokenRequestCount);
    }

    [Fact]
    public async Task TransientTokenEndpointFailures_AreRetriedAndTheCallerSucceeds()
    {
        M3ter.EnqueueTokenFault(M3terFault.Status(HttpStatusCode.ServiceUnavailable, "<html>503</html>", "text/html"));
        M3ter.EnqueueTokenFault(M3terFault.Reset());
        M3ter.EnqueueTokenFault(M3terFault.RetryAfterSeconds(HttpStatusCode.TooManyRequests, TimeSpan.FromSeconds(1)));

        using HttpResponseMessage response = await Api.GetAsync(new Uri(OrgPath(), UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(4, M3ter.TokenRequestCount);
        AssertLogsHoldNoSecrets();
    }

    [Fact]
    public async Task MalformedTokenResponse_FailsClosedWithM3terAuthException()
    {
        M3ter.PersistentTokenFault = M3terFault.Ok("<html><body>Login</body></html>", "text/html");

        var error = await Assert.ThrowsAsync<M3terAuthException>(() => Api.GetAsync(new Uri(OrgPath(), UriKind.Relative)));

        Assert.Equal(HttpStatusCode.OK, error.StatusCode);
        Assert.Contains("not valid JSON: '<' at byte 0 (Content-Type text/html)", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(M3ter.Requests, r => r.Kind != M3terRequestKind.Token);
    }

    [Fact]
    public async Task QuickStartSample_RunsAgainstTheEmulator()
    {
        var output = new StringWriter();

        int exitCode = await QuickStart.QuickStartApp.RunAsync(output);

        string text = output.ToString();
        Assert.True(exitCode == 0, text);
        Assert.Contains("built-in m3ter emulator", text, StringComparison.Ordinal);
        Assert.Contains("API calls made: 3; failed: 0", text, StringComparison.Ordinal);
        // The sample's own count comes from the process-wide metric, which parallel tests add to; the emulator's is exact.
        Assert.Contains("the emulator saw 1 token request(s) and 3 API call(s)", text, StringComparison.Ordinal);
        Assert.DoesNotContain("emu_", text, StringComparison.Ordinal); // the emulator's tokens never reach the console
    }
}

public sealed class WrongSecretTests : EmulatorTestBase
{
    protected override void ConfigureAuth(M3terAuthOptions options) => options.ApiSecret = "not-the-secret";

    [Fact]
    public async Task WrongSecret_UnderLoad_FailsEveryCallWithTheServerError_AndMakesATrickleOfTokenRequests()
    {
        HttpClient api = Api;

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => Task.Run(async () =>
        {
            try
            {
                await api.GetAsync(new Uri(OrgPath(), UriKind.Relative));
                return null;
            }
            catch (M3terAuthException ex)
            {
                return ex;
            }
        })));

        Assert.All(results, e =>
        {
            Assert.NotNull(e);
            Assert.Equal(HttpStatusCode.Unauthorized, e!.StatusCode);
            Assert.Equal("invalid_client", e.Error);
            Assert.DoesNotContain("not-the-secret", e.ToString(), StringComparison.Ordinal);
        });
        Assert.Equal(1, M3ter.TokenRequestCount);
        Assert.DoesNotContain(M3ter.Requests, r => r.Kind != M3terRequestKind.Token);
        Assert.DoesNotContain("not-the-secret", Logs.AllText, StringComparison.Ordinal);
    }
}

public sealed class ShortLivedTokenTests : EmulatorTestBase
{
    // On top of the base's options (no rate limit): replacing them brought back the emulator's 50 requests/s, which a
    // call every 20 ms plus its token requests could exceed (1 run in 20 failed with 429).
    protected override M3terEmulatorOptions EmulatorOptions
    {
        get
        {
            M3terEmulatorOptions options = base.EmulatorOptions;
            options.TokenLifetime = TimeSpan.FromSeconds(4);
            return options;
        }
    }

    // Four seconds, refreshed halfway: a call uses a token with at least about 2 s left. With 2 s tokens (1 s left) a
    // starved CPU once held a request long enough between the handler and the emulator for its token to expire on
    // the way (a 403, recovered by the replay): what this test checks is the refresh ahead, not the scheduler.
    [Fact]
    public async Task FourSecondTokens_AreCachedAndRefreshedAheadWithoutFailedCalls()
    {
        DateTime end = DateTime.UtcNow.AddSeconds(8);
        int calls = 0;
        while (DateTime.UtcNow < end)
        {
            using HttpResponseMessage response = await Api.GetAsync(new Uri(OrgPath(), UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            calls++;
            await Task.Delay(20);
        }

        // One token per two seconds (refreshed halfway through its 4 s), give or take: not one per call.
        Assert.InRange(M3ter.TokenRequestCount, 3, 12);
        Assert.True(calls > 50);
        Assert.DoesNotContain(M3ter.Requests, r => r.StatusCode == 403);
    }
}

/// <summary>The QuickStart against "real" m3ter (the emulator behind the M3TER_* variables): it reads, and writes billing data only when asked.</summary>
[Collection(QuickStartEnvironmentCollection.Name)]
public sealed class QuickStartAgainstRealM3terTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task QuickStart_AgainstRealM3ter_SubmitsMeasurementsOnlyWithIngest(bool ingest)
    {
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync();
        using var env = new EnvironmentVariables(m3ter.EnvironmentVariables.ToDictionary(v => v.Key, v => (string?)v.Value));
        var output = new StringWriter();

        int exitCode = await QuickStart.QuickStartApp.RunAsync(output, ingest ? new[] { "--ingest" } : Array.Empty<string>());

        string text = output.ToString();
        Assert.True(exitCode == 0, text);
        Assert.Contains("target:  real m3ter", text, StringComparison.Ordinal);
        Assert.Equal(ingest ? 1 : 0, m3ter.Requests.Count(r => r.Kind == M3terRequestKind.Ingest));
        Assert.Equal(2, m3ter.Requests.Count(r => r.Kind == M3terRequestKind.Config));
        if (!ingest)
        {
            Assert.Contains("skipped: against real m3ter the quickstart only reads; pass --ingest", text, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(m3ter.ApiSecret, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QuickStart_UnknownArgument_PrintsUsage()
    {
        var output = new StringWriter();

        int exitCode = await QuickStart.QuickStartApp.RunAsync(output, new[] { "--bogus" });

        Assert.Equal(64, exitCode);
        Assert.Contains("usage: dotnet run --project samples/QuickStart", output.ToString(), StringComparison.Ordinal);
    }
}

/// <summary>Tests that set process-wide M3TER_* variables run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class QuickStartEnvironmentCollection
{
    public const string Name = "M3TER_* environment variables";
}
