using System;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading.Tasks;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using RichardSzalay.MockHttp;

namespace M3ter.Auth.Tests;

[Collection(EnvironmentCollection.Name)]
public sealed class StaticTokenTests
{
    private readonly FakeTimeProvider _time = TestOptions.Clock();
    private readonly MockHttpMessageHandler _http = new();

    public StaticTokenTests()
    {
        _http.Fallback.Throw(new InvalidOperationException("A pre-issued token must never cause a token request"));
    }

    internal static string Jwt(DateTimeOffset expiresAt)
    {
        static string Encode(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return Encode("{\"alg\":\"RS256\"}") + "." + Encode("{\"sub\":\"svc\",\"exp\":" + expiresAt.ToUnixTimeSeconds() + "}") + ".c2lnbmF0dXJl";
    }

    private TokenProvider Provider(string accessToken)
    {
        var options = new M3terAuthOptions { AccessToken = accessToken };
        return new TokenProvider(new TokenClient(_http.ToHttpClient(), options, _time), options, _time);
    }

    [Fact]
    public async Task PreIssuedJwt_IsUsedAsIs_UntilItsExpClaim_WithoutTokenRequests()
    {
        string jwt = Jwt(_time.GetUtcNow().AddHours(1));
        using TokenProvider provider = Provider(jwt);

        M3terToken token = await provider.GetTokenAsync();
        _time.Advance(TimeSpan.FromMinutes(59));
        M3terToken later = await provider.GetTokenAsync();

        Assert.Equal(jwt, token.AccessToken);
        Assert.Same(token, later);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(_time.GetUtcNow().AddMinutes(1).ToUnixTimeSeconds()), token.ExpiresAt);
    }

    [Fact]
    public async Task PreIssuedJwt_AfterExp_FailsWithAClearM3terAuthException()
    {
        using TokenProvider provider = Provider(Jwt(_time.GetUtcNow().AddMinutes(10)));
        await provider.GetTokenAsync();

        _time.Advance(TimeSpan.FromMinutes(10));
        var error = await Assert.ThrowsAsync<M3terAuthException>(() => provider.GetTokenAsync().AsTask());

        Assert.Contains("pre-issued m3ter access token", error.Message, StringComparison.Ordinal);
        Assert.Contains("expired at", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("c2lnbmF0dXJl", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PreIssuedJwt_AlreadyExpired_FailsAtOnceAndTheHandlerSendsNothing()
    {
        var options = new M3terAuthOptions { AccessToken = Jwt(_time.GetUtcNow().AddSeconds(-1)) };
        using TokenProvider provider = Provider(options.AccessToken);
        var api = new MockHttpMessageHandler();
        api.Fallback.Throw(new InvalidOperationException("nothing may be sent"));
        var client = new HttpClient(new M3terAuthHandler(provider, options, timeProvider: _time) { InnerHandler = api });

        await Assert.ThrowsAsync<M3terAuthException>(() => client.GetAsync(new Uri("https://api.m3ter.com/organizations/o")));
    }

    [Theory]
    [InlineData("opaque-token-value")]
    [InlineData("not.a.jwt")]
    [InlineData("a.b~c.d")] // the payload is not base64
    public async Task PreIssuedOpaqueToken_HasNoExpiry(string accessToken)
    {
        using TokenProvider provider = Provider(accessToken);
        M3terToken token = await provider.GetTokenAsync();

        _time.Advance(TimeSpan.FromDays(365));

        Assert.Same(token, await provider.GetTokenAsync());
        Assert.Equal(DateTimeOffset.MaxValue, token.ExpiresAt);
    }

    [Fact]
    public async Task PreIssuedToken_RefusedBym3ter_IsNotReplayed()
    {
        var options = new M3terAuthOptions { AccessToken = "static-token" };
        using TokenProvider provider = Provider(options.AccessToken);
        var api = new MockHttpMessageHandler();
        var refused = api.When("https://api.m3ter.com/*").Respond(HttpStatusCode.Forbidden);
        var client = new HttpClient(new M3terAuthHandler(provider, options, timeProvider: _time) { InnerHandler = api });

        using HttpResponseMessage response = await client.GetAsync(new Uri("https://api.m3ter.com/organizations/o"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(1, api.GetMatchCount(refused));
    }

    [Fact]
    public void Validation_PreIssuedToken_NeedsNoKeyOrSecret()
    {
        using var env = new EnvironmentVariables(new() { ["M3TER_API_TOKEN"] = "env-static-token", ["M3TER_API_KEY"] = null, ["M3TER_API_SECRET"] = null });
        using ServiceProvider sp = new ServiceCollection().AddM3terAuth().BuildServiceProvider();

        sp.GetRequiredService<IStartupValidator>().Validate();
        M3terAuthOptions options = sp.GetRequiredService<IOptions<M3terAuthOptions>>().Value;

        Assert.Equal("env-static-token", options.AccessToken);
        Assert.DoesNotContain("env-static-token", options.ToString(), StringComparison.Ordinal);
    }

    internal static string JwtWithExp(string exp)
    {
        static string Encode(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return Encode("{\"alg\":\"RS256\"}") + "." + Encode("{\"sub\":\"svc\",\"exp\":" + exp + "}") + ".c2lnbmF0dXJl";
    }

    [Fact]
    public async Task PreIssuedJwt_ExpWithAFraction_ExpiresThen()
    {
        long exp = _time.GetUtcNow().AddMinutes(10).ToUnixTimeSeconds();
        using TokenProvider provider = Provider(JwtWithExp(exp.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".5"));
        M3terToken token = await provider.GetTokenAsync();

        _time.Advance(TimeSpan.FromMinutes(10));

        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(exp), token.ExpiresAt);
        await Assert.ThrowsAsync<M3terAuthException>(() => provider.GetTokenAsync().AsTask());
    }

    [Theory]
    [InlineData("t\u00f6ken", 2)]
    [InlineData("two words", 4)]
    public void Validation_PreIssuedTokenThatIsNoValidHeaderValue_IsRefusedNamingTheSetting(string accessToken, int position)
    {
        var error = Assert.Throws<ArgumentException>(() => new TokenClient(new HttpClient(), new M3terAuthOptions { AccessToken = accessToken }));

        Assert.Contains("M3ter:AccessToken is not a valid bearer token", error.Message, StringComparison.Ordinal);
        Assert.Contains("character " + position.ToString(System.Globalization.CultureInfo.InvariantCulture) + " ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(accessToken, error.Message, StringComparison.Ordinal);
    }
}
