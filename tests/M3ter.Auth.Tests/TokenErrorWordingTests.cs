using System;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading.Tasks;
using M3ter.Auth.Fuzz;

namespace M3ter.Auth.Tests;

/// <summary>
/// How a refusal from the token endpoint reads: the server's code and description together, its description before its
/// message, and a long description cut at 256 characters. (The mutation run, docs/quality.md, found these untested.)
/// </summary>
public sealed class TokenErrorWordingTests
{
    private static async Task<M3terAuthException> RefusalAsync(HttpStatusCode status, string body)
    {
        var client = new TokenClient(new HttpClient(new FixedAnswer(status, "application/json", Encoding.UTF8.GetBytes(body))), TestOptions.Create(o => o.MaxRetryAttempts = 0));
        return await Assert.ThrowsAsync<M3terAuthException>(() => client.RequestTokenAsync());
    }

    [Fact]
    public async Task CodeAndDescription_AreBothInTheMessage_CodeFirst()
    {
        M3terAuthException ex = await RefusalAsync(HttpStatusCode.Unauthorized, "{\"error\":\"invalid_client\",\"error_description\":\"Bad credentials\"}");

        Assert.Contains("(invalid_client: Bad credentials)", ex.Message, StringComparison.Ordinal);
        Assert.Equal("invalid_client", ex.Error);
        Assert.Equal("Bad credentials", ex.ErrorDescription);
        Assert.EndsWith("Check AccessKeyId and ApiSecret.", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"error\":\"invalid_client\"}", "(invalid_client)")]
    [InlineData("{\"message\":\"Forbidden\"}", "(Forbidden)")]
    public async Task OnlyOneOfThem_IsInTheMessageAlone(string body, string expected)
    {
        M3terAuthException ex = await RefusalAsync(HttpStatusCode.Forbidden, body);

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheDescription_WinsOverTheMessage()
    {
        M3terAuthException ex = await RefusalAsync(HttpStatusCode.BadRequest, "{\"error_description\":\"the description\",\"message\":\"the message\"}");

        Assert.Equal("the description", ex.ErrorDescription);
        Assert.DoesNotContain("the message", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ALongDescription_IsCutAt256Characters()
    {
        string description = new string('d', 255) + "XYZ" + new string('e', 700);

        M3terAuthException ex = await RefusalAsync(HttpStatusCode.Unauthorized, "{\"error_description\":\"" + description + "\"}");

        Assert.Contains(new string('d', 255) + "X…", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("XY", ex.Message, StringComparison.Ordinal);
        Assert.Equal(256 + 1, ex.ErrorDescription!.Length);
    }

    [Fact]
    public async Task ATransientFailure_SaysHowOftenItWasRetried()
    {
        M3terAuthException ex = await RefusalAsync(HttpStatusCode.ServiceUnavailable, "{\"message\":\"down\"}");

        Assert.EndsWith("(down). Retried up to 0 time(s).", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheSecretEchoedByTheServer_IsStarredOut()
    {
        M3terAuthException ex = await RefusalAsync(HttpStatusCode.Unauthorized, "{\"error_description\":\"you sent " + TestOptions.Secret + "\"}");

        Assert.Contains("you sent ***", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(TestOptions.Secret, ex.ToString(), StringComparison.Ordinal);
    }
}

/// <summary>A token request the primary handler redirected: whatever answered never saw the credentials.</summary>
public sealed class TokenRedirectTests
{
    [Theory]
    [InlineData(HttpStatusCode.Unauthorized)]
    [InlineData(HttpStatusCode.OK)]
    public async Task ARedirectedTokenRequest_FailsAsARedirect_NotAsARefusal_AndIsNotRetried(HttpStatusCode finalStatus)
    {
        var handler = new RedirectingHandler(new Uri("https://login.elsewhere.example/oauth/token?sig=abc"), finalStatus);
        var client = new TokenClient(new HttpClient(handler), TestOptions.Create(o => o.MaxRetryAttempts = 3));

        M3terAuthException ex = await Assert.ThrowsAsync<M3terAuthException>(() => client.RequestTokenAsync());

        Assert.False(ex.IsCredentialRejection);
        Assert.Null(ex.StatusCode);
        Assert.Contains("redirected the token request to https://login.elsewhere.example/oauth/token,", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sig=abc", ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, handler.Calls);
    }

    /// <summary>Does what HttpClientHandler does when it follows a redirect: the request names the new address, without its Authorization.</summary>
    private sealed class RedirectingHandler(Uri target, HttpStatusCode finalStatus) : HttpMessageHandler
    {
        public int Calls { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, System.Threading.CancellationToken cancellationToken)
        {
            Calls++;
            request.RequestUri = target;
            request.Headers.Authorization = null;
            string body = finalStatus == HttpStatusCode.OK ? "{\"access_token\":\"not-for-you\",\"expires_in\":60}" : "{\"error\":\"invalid_client\"}";
            return Task.FromResult(new HttpResponseMessage(finalStatus) { Content = new StringContent(body, Encoding.UTF8, "application/json"), RequestMessage = request });
        }
    }
}
