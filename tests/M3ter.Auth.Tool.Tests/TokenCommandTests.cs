using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Threading.Tasks;
using M3ter.Auth.Testing;

namespace M3ter.Auth.Tool.Tests;

/// <summary><c>m3ter-auth token</c> and <c>check</c>, run as processes against an emulator in this process.</summary>
public sealed class TokenCommandTests : IAsyncLifetime
{
    private static readonly HttpClient Http = new();
    private M3terEmulator _m3ter = null!;

    public async Task InitializeAsync() => _m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });

    public async Task DisposeAsync() => await _m3ter.DisposeAsync();

    private Dictionary<string, string> Environment(string? secret = null) => new(_m3ter.EnvironmentVariables)
    {
        ["M3TER_API_SECRET"] = secret ?? _m3ter.ApiSecret,
    };

    private async Task<ToolRun> RunAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        ToolRun run = await ToolRun.RunAsync(environment, args);
        Assert.DoesNotContain(_m3ter.ApiSecret, run.StandardOutput + run.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-secret-value", run.StandardOutput + run.StandardError, StringComparison.Ordinal);
        return run;
    }

    [Fact]
    public async Task Token_PrintsTheTokenAndNothingElse_AndTheEmulatorAcceptsIt()
    {
        ToolRun run = await RunAsync(Environment(), "token");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(string.Empty, run.StandardError);
        string token = Assert.Single(_m3ter.IssuedTokens);
        Assert.Equal(token + "\n", run.StandardOutput);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_m3ter.BaseAddress, $"organizations/{_m3ter.OrganizationId}/meters"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", run.StandardOutput.TrimEnd('\n'));
        using HttpResponseMessage response = await Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task TokenHeader_PrintsTheWholeAuthorizationLine()
    {
        ToolRun run = await RunAsync(Environment(), "token", "--header");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("Authorization: Bearer " + Assert.Single(_m3ter.IssuedTokens) + "\n", run.StandardOutput);
    }

    [Fact]
    public async Task Flags_WinOverTheEnvironment_AndWorkWithoutIt()
    {
        ToolRun overriding = await RunAsync(Environment(secret: "wrong-secret-value"), "token", "--secret", _m3ter.ApiSecret);
        ToolRun flagsOnly = await RunAsync(null, "token", "--key", _m3ter.AccessKeyId, "--secret", _m3ter.ApiSecret, "--base-url", _m3ter.BaseAddress.ToString());

        Assert.True(overriding.ExitCode == 0, overriding.ToString());
        Assert.True(flagsOnly.ExitCode == 0, flagsOnly.ToString());
        Assert.Equal(2, _m3ter.IssuedTokens.Count);
    }

    [Fact]
    public async Task PreIssuedToken_IsPrintedAsItIs_WithoutATokenRequest()
    {
        string preIssued = _m3ter.CreatePreIssuedToken(TimeSpan.FromHours(1));
        var environment = new Dictionary<string, string>
        {
            ["M3TER_API_TOKEN"] = preIssued,
            ["M3TER_BASE_URL"] = _m3ter.BaseAddress.ToString(),
        };

        ToolRun run = await RunAsync(environment, "token");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(preIssued + "\n", run.StandardOutput);
        Assert.Equal(0, _m3ter.TokenRequestCount);
    }

    [Fact]
    public async Task Check_PrintsEndpointExpiryAndLatency_ButNeverTheToken()
    {
        ToolRun run = await RunAsync(Environment(), "check");

        Assert.True(run.ExitCode == 0, run.ToString());
        string token = Assert.Single(_m3ter.IssuedTokens);
        Assert.DoesNotContain(token, run.StandardOutput + run.StandardError, StringComparison.Ordinal);
        Assert.Contains("m3ter accepted the credentials.", run.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"token endpoint: {_m3ter.BaseAddress}oauth/token", run.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"access key id:  {_m3ter.AccessKeyId}", run.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"configured OrganizationId {_m3ter.OrganizationId}", run.StandardOutput, StringComparison.Ordinal);
        Assert.Matches(@"expires at:     \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in [45] h \d+ min\)", run.StandardOutput);
        Assert.Matches(@"latency:        \d+ ms", run.StandardOutput);
    }

    [Fact]
    public async Task Check_ReadsTheOrganizationClaim_OfAJwt()
    {
        string payload = Convert.ToBase64String(Encoding.UTF8.GetBytes("{\"sub\":\"svc\",\"m3ter_org_id\":\"acme-org\"}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        string jwt = "eyJhbGciOiJub25lIn0." + payload + ".c2ln";
        _m3ter.EnqueueTokenFault(M3terFault.Ok($"{{\"access_token\":\"{jwt}\",\"token_type\":\"Bearer\",\"expires_in\":600}}"));

        ToolRun run = await RunAsync(Environment(), "check");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("organization:   acme-org (claim \"m3ter_org_id\")", run.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain(jwt, run.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain(payload, run.StandardOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("token")]
    [InlineData("check")]
    public async Task RefusedCredentials_ExitWith3_AndTheLibrarysMessage(string command)
    {
        ToolRun run = await RunAsync(Environment(secret: "wrong-secret-value"), command);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Equal(string.Empty, run.StandardOutput);
        Assert.StartsWith("m3ter-auth: credentials refused: ", run.StandardError, StringComparison.Ordinal);
        Assert.Contains("401", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AClosedPort_ExitsWith4()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        Dictionary<string, string> environment = Environment();
        environment["M3TER_BASE_URL"] = $"http://127.0.0.1:{port}/";

        ToolRun run = await RunAsync(environment, "token", "--retries", "0");

        Assert.True(run.ExitCode == 4, run.ToString());
        Assert.Equal(string.Empty, run.StandardOutput);
        Assert.Contains("could not be reached", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEndpointThatDoesNotAnswerInTime_ExitsWith4()
    {
        _m3ter.PersistentTokenFault = M3terFault.Slow(TimeSpan.FromSeconds(20));

        ToolRun run = await RunAsync(Environment(), "check", "--retries", "0", "--timeout", "0.5");

        Assert.True(run.ExitCode == 4, run.ToString());
        Assert.Contains("did not answer within", run.StandardError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError, "{\"message\":\"boom\"}")]
    [InlineData(HttpStatusCode.OK, "{\"token_type\":\"Bearer\",\"expires_in\":600}")]
    public async Task AnEndpointThatFails_ExitsWith5(HttpStatusCode status, string body)
    {
        _m3ter.PersistentTokenFault = M3terFault.Status(status, body);

        ToolRun run = await RunAsync(Environment(), "token", "--retries", "0");

        Assert.True(run.ExitCode == 5, run.ToString());
        Assert.Equal(string.Empty, run.StandardOutput);
        Assert.StartsWith("m3ter-auth: token endpoint failed: ", run.StandardError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("M3TER_API_KEY", "", "AccessKeyId")]
    [InlineData("M3TER_BASE_URL", "not an address", "M3TER_BASE_URL")]
    public async Task BadConfiguration_ExitsWith2_NamingTheSetting(string variable, string value, string named)
    {
        Dictionary<string, string> environment = Environment();
        environment[variable] = value;

        ToolRun run = await RunAsync(environment, "token");

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Equal(string.Empty, run.StandardOutput);
        Assert.StartsWith("m3ter-auth: bad configuration: ", run.StandardError, StringComparison.Ordinal);
        Assert.Contains(named, run.StandardError, StringComparison.Ordinal);
        Assert.Equal(0, _m3ter.TokenRequestCount);
    }

    [Theory]
    [InlineData("tokens")]
    [InlineData("token", "--nope")]
    [InlineData("token", "--base-url", "ftp://example.com/")]
    [InlineData("check", "--timeout", "-1")]
    [InlineData("token", "--secret")]
    public async Task BadArguments_ExitWith2(params string[] args)
    {
        ToolRun run = await RunAsync(Environment(), args);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Equal(string.Empty, run.StandardOutput);
        Assert.StartsWith("m3ter-auth: ", run.StandardError, StringComparison.Ordinal);
        Assert.Equal(0, _m3ter.TokenRequestCount);
    }

    [Fact]
    public async Task HelpAndVersion_GoToStdout_AndExit0()
    {
        ToolRun help = await RunAsync(null, "--help");
        ToolRun version = await RunAsync(null, "--version");

        Assert.Equal(0, help.ExitCode);
        Assert.Contains("m3ter-auth token", help.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("Exit codes:", help.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(0, version.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+", version.StandardOutput);
        Assert.True(version.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length == 1, version.ToString());
    }
}
