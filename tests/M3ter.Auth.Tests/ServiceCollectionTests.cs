using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RichardSzalay.MockHttp;

namespace M3ter.Auth.Tests;

[Collection(EnvironmentCollection.Name)] // some tests set process-wide environment variables
public sealed class ServiceCollectionTests
{
    private readonly MockHttpMessageHandler _tokenEndpoint = new();
    private readonly MockHttpMessageHandler _api = new();
    private int _issued;

    public ServiceCollectionTests()
    {
        _tokenEndpoint.Fallback.Throw(new InvalidOperationException("Unexpected token request"));
        _api.Fallback.Respond(HttpStatusCode.OK);
    }

    /// <summary>A token endpoint on <paramref name="baseAddress"/> that issues numbered tokens and records who asked.</summary>
    private List<string> ServeTokens(string baseAddress = "https://api.m3ter.com/")
    {
        var basics = new List<string>();
        _tokenEndpoint.When(HttpMethod.Post, baseAddress + "oauth/token").Respond(request =>
        {
            lock (basics)
            {
                basics.Add(request.Headers.Authorization!.Parameter!);
            }

            int n = System.Threading.Interlocked.Increment(ref _issued);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{\"access_token\":\"di-token-" + n + "\",\"expires_in\":18000}") };
        });
        return basics;
    }

    private IServiceCollection Services(CapturingLoggerProvider? logs = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b =>
        {
            b.SetMinimumLevel(LogLevel.Trace);
            if (logs is not null)
            {
                b.AddProvider(logs);
            }
        });
        services.AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => _tokenEndpoint);
        return services;
    }

    private static string Basic(string key, string secret) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(key + ":" + secret));

    [Fact]
    public async Task AddM3terAuth_WithDelegate_ResolvesTokenProviderThatFetchesFromTheTokenEndpoint()
    {
        List<string> basics = ServeTokens();
        using ServiceProvider sp = Services().AddM3terAuth(o => { o.AccessKeyId = "k"; o.ApiSecret = "s"; }).BuildServiceProvider();

        var provider = sp.GetRequiredService<ITokenProvider>();
        M3terToken token = await provider.GetTokenAsync();

        Assert.Equal("di-token-1", token.AccessToken);
        Assert.Same(provider, sp.GetRequiredKeyedService<ITokenProvider>(Options.DefaultName));
        Assert.Equal(new[] { Basic("k", "s") }, basics);
    }

    [Fact]
    public async Task AddM3terAuthHandler_TypedOrNamedClient_SendsBearerTokenToM3terOnly()
    {
        ServeTokens();
        IServiceCollection services = Services().AddM3terAuth(o => { o.AccessKeyId = "k"; o.ApiSecret = "s"; });
        services.AddHttpClient("m3ter").AddM3terAuthHandler().ConfigurePrimaryHttpMessageHandler(() => _api);
        string? apiAuth = null, otherAuth = null;
        _api.When("https://api.m3ter.com/*").Respond(r => { apiAuth = r.Headers.Authorization?.ToString(); return new HttpResponseMessage(HttpStatusCode.OK); });
        _api.When("https://example.com/*").Respond(r => { otherAuth = r.Headers.Authorization?.ToString(); return new HttpResponseMessage(HttpStatusCode.OK); });
        using ServiceProvider sp = services.BuildServiceProvider();

        HttpClient client = sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");
        await client.GetAsync(new Uri("https://api.m3ter.com/organizations/o/products"));
        await client.GetAsync(new Uri("https://example.com/x"));

        Assert.Equal("Bearer di-token-1", apiAuth);
        Assert.Null(otherAuth);
    }

    [Fact]
    public async Task AddM3terAuth_NamedRegistrations_AreSeparateKeyedProvidersWithTheirOwnCredentials()
    {
        List<string> basics = ServeTokens();
        IServiceCollection services = Services()
            .AddM3terAuth(o => { o.AccessKeyId = "default-key"; o.ApiSecret = "s0"; })
            .AddM3terAuth("eu", o => { o.AccessKeyId = "eu-key"; o.ApiSecret = "s1"; });
        services.AddHttpClient("eu-client").AddM3terAuthHandler("eu").ConfigurePrimaryHttpMessageHandler(() => _api);
        string? euAuth = null;
        _api.When("https://api.m3ter.com/*").Respond(r => { euAuth = r.Headers.Authorization?.ToString(); return new HttpResponseMessage(HttpStatusCode.OK); });
        using ServiceProvider sp = services.BuildServiceProvider();

        var eu = sp.GetRequiredKeyedService<ITokenProvider>("eu");
        var main = sp.GetRequiredService<ITokenProvider>();
        Assert.NotSame(eu, main);
        await sp.GetRequiredService<IHttpClientFactory>().CreateClient("eu-client").GetAsync(new Uri("https://api.m3ter.com/organizations/o"));
        await main.GetTokenAsync();

        Assert.Equal(new[] { Basic("eu-key", "s1"), Basic("default-key", "s0") }, basics);
        Assert.Equal("Bearer di-token-1", euAuth);
    }

    [Fact]
    public void AddM3terAuthHandler_WithoutAddM3terAuth_FailsWithInstructions()
    {
        IServiceCollection services = Services();
        services.AddHttpClient("c").AddM3terAuthHandler("missing");
        using ServiceProvider sp = services.BuildServiceProvider();

        var error = Assert.Throws<InvalidOperationException>(() => sp.GetRequiredService<IHttpClientFactory>().CreateClient("c"));

        Assert.Contains("AddM3terAuth(\"missing\"", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "s", "https://api.m3ter.com", "M3ter:AccessKeyId is required")]
    [InlineData("k", null, "https://api.m3ter.com", "M3ter:ApiSecret is required")]
    [InlineData("k", "s", "http://api.m3ter.com", "M3ter:BaseAddress must use https")]
    [InlineData("k", "s", "ftp://api.m3ter.com", "M3ter:BaseAddress must be an absolute http(s) URI")]
    [InlineData("k", "s", "/relative", "M3ter:BaseAddress must be an absolute http(s) URI")]
    [InlineData("k", "s", "not a uri", "M3ter:BaseAddress must be an absolute http(s) URI")]
    [InlineData("k", "s", "https://api.m3ter.com/v1?x=1", "M3ter:BaseAddress must not have a query string or fragment")]
    [InlineData("k", "s", "https://api.m3ter.com/v1#part", "M3ter:BaseAddress must not have a query string or fragment")]
    public void ValidateOnStart_InvalidOptions_FailWithTheSettingsName(string? key, string? secret, string baseAddress, string expected)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["M3ter:AccessKeyId"] = key,
            ["M3ter:ApiSecret"] = secret,
            ["M3ter:BaseAddress"] = baseAddress,
        }).Build();
        IServiceCollection services = Services();
        services.AddSingleton<IConfiguration>(config);
        services.AddM3terAuth();
        using ServiceProvider sp = services.BuildServiceProvider();

        var atStart = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IStartupValidator>().Validate());
        var onGet = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().Get(Options.DefaultName));

        Assert.Contains(expected, atStart.Message, StringComparison.Ordinal);
        Assert.Contains(expected, onGet.Message, StringComparison.Ordinal);
        if (secret is not null)
        {
            Assert.DoesNotContain("M3ter:ApiSecret", atStart.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("RefreshBeforeExpiry", "five minutes", "M3ter:RefreshBeforeExpiry must be a time span")]
    [InlineData("MaxRetryAttempts", "many", "M3ter:MaxRetryAttempts must be a whole number")]
    [InlineData("MaxRetryAttempts", "50", "M3ter:MaxRetryAttempts must be between 0 and 10")]
    [InlineData("TokenRequestTimeout", "00:00:00", "M3ter:TokenRequestTimeout must be between 10 milliseconds and a day")]
    [InlineData("TokenRequestTimeout", "00:00:00.009", "M3ter:TokenRequestTimeout must be between 10 milliseconds and a day")]
    [InlineData("TokenRequestTimeout", "1.00:00:00.001", "M3ter:TokenRequestTimeout must be between 10 milliseconds and a day")]
    public void Validation_UnparsableOrOutOfRangeValues_NameTheKey(string setting, string value, string expected)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["M3ter:AccessKeyId"] = "k",
            ["M3ter:ApiSecret"] = "s",
            ["M3ter:" + setting] = value,
        }).Build();
        using ServiceProvider sp = Services().AddSingleton<IConfiguration>(config).AddM3terAuth().BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validation_PlainHttpToLoopback_IsAllowed()
    {
        using ServiceProvider sp = Services().AddM3terAuth(o => { o.AccessKeyId = "k"; o.ApiSecret = "s"; o.BaseAddress = new Uri("http://127.0.0.1:5000"); }).BuildServiceProvider();

        sp.GetRequiredService<IStartupValidator>().Validate();
        Assert.Equal(new Uri("http://127.0.0.1:5000/"), sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue.BaseAddress);
    }

    [Fact]
    public void Configuration_Precedence_DelegateOverConfigurationOverEnvironment()
    {
        using var env = new EnvironmentVariables(new()
        {
            ["M3TER_API_KEY"] = "env-key",
            ["M3TER_API_SECRET"] = "env-secret",
            ["M3TER_ORG_ID"] = "env-org",
            ["M3TER_BASE_URL"] = "https://api.env.m3ter.com",
        });
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["M3ter:ApiSecret"] = "config-secret",
            ["M3ter:OrganizationId"] = "config-org",
            ["M3ter:RefreshBeforeExpiry"] = "00:10:00",
        }).Build();
        using ServiceProvider sp = Services().AddSingleton<IConfiguration>(config).AddM3terAuth(o => o.OrganizationId = "delegate-org").BuildServiceProvider();

        M3terAuthOptions options = sp.GetRequiredService<IOptions<M3terAuthOptions>>().Value;

        Assert.Equal("env-key", options.AccessKeyId);
        Assert.Equal("config-secret", options.ApiSecret);
        Assert.Equal("delegate-org", options.OrganizationId);
        Assert.Equal(new Uri("https://api.env.m3ter.com/"), options.BaseAddress);
        Assert.Equal(TimeSpan.FromMinutes(10), options.RefreshBeforeExpiry);
    }

    [Theory]
    [InlineData("section")]
    [InlineData("delegate")]
    public void Configuration_UnparsableEarlierSourceOverriddenByALaterOne_IsValid(string overriddenBy)
    {
        // Each source overrides the one before, so only the final value is validated.
        using var env = new EnvironmentVariables(new() { ["M3TER_API_KEY"] = "k", ["M3TER_API_SECRET"] = "s", ["M3TER_BASE_URL"] = "not a url" });
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["M3ter:BaseAddress"] = overriddenBy == "section" ? "https://api.section.m3ter.com" : null,
            ["M3ter:RefreshBeforeExpiry"] = "soon",
        }).Build();
        using ServiceProvider sp = Services().AddSingleton<IConfiguration>(config).AddM3terAuth(o =>
        {
            if (overriddenBy == "delegate")
            {
                o.BaseAddress = new Uri("https://api.delegate.m3ter.com");
            }

            o.RefreshBeforeExpiry = TimeSpan.FromMinutes(7);
        }).BuildServiceProvider();

        sp.GetRequiredService<IStartupValidator>().Validate();
        M3terAuthOptions options = sp.GetRequiredService<IOptions<M3terAuthOptions>>().Value;
        Assert.Equal(overriddenBy == "section" ? "https://api.section.m3ter.com/" : "https://api.delegate.m3ter.com/", options.BaseAddress.ToString());
        Assert.Equal(TimeSpan.FromMinutes(7), options.RefreshBeforeExpiry);
    }

    [Fact]
    public void Configuration_UnparsableLastSource_StillFailsNamingIt()
    {
        using var env = new EnvironmentVariables(new() { ["M3TER_API_KEY"] = "k", ["M3TER_API_SECRET"] = "s", ["M3TER_BASE_URL"] = "https://api.env.m3ter.com" });
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["M3ter:BaseAddress"] = "not a url" }).Build();
        using ServiceProvider sp = Services().AddSingleton<IConfiguration>(config).AddM3terAuth().BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("M3ter:BaseAddress must be an absolute http(s) URI", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Configuration_EnvironmentOnly_IsEnoughWithoutAnyIConfiguration()
    {
        using var env = new EnvironmentVariables(new() { ["M3TER_API_KEY"] = "env-key", ["M3TER_API_SECRET"] = "env-secret" });
        using ServiceProvider sp = Services().AddM3terAuth().BuildServiceProvider();

        sp.GetRequiredService<IStartupValidator>().Validate();
        Assert.Equal("env-key", sp.GetRequiredService<IOptions<M3terAuthOptions>>().Value.AccessKeyId);
    }

    [Fact]
    public void Configuration_NamedRegistration_ReadsItsOwnSectionAndIgnoresEnvironment()
    {
        using var env = new EnvironmentVariables(new() { ["M3TER_API_KEY"] = "env-key", ["M3TER_API_SECRET"] = "env-secret" });
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["M3ter:eu:AccessKeyId"] = "eu-key",
        }).Build();
        using ServiceProvider sp = Services().AddSingleton<IConfiguration>(config).AddM3terAuth("eu", o => o.ApiSecret = "eu-secret").BuildServiceProvider();

        M3terAuthOptions eu = sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().Get("eu");

        Assert.Equal("eu-key", eu.AccessKeyId);
        Assert.Equal("eu-secret", eu.ApiSecret);
    }

    [Fact]
    public void AddM3terAuth_ExplicitSection_IsRead()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Billing:Auth:AccessKeyId"] = "section-key",
            ["Billing:Auth:ApiSecret"] = "section-secret",
        }).Build();
        using ServiceProvider sp = Services().AddM3terAuth(config.GetSection("Billing:Auth")).BuildServiceProvider();

        Assert.Equal("section-key", sp.GetRequiredService<IOptions<M3terAuthOptions>>().Value.AccessKeyId);
    }

    /// <summary>Waits (in real time, bounded) for background work the test started.</summary>
    [Fact]
    public async Task ConfigurationReload_NewCredentials_AreUsedForTheNextToken_AndTheOldTokenIsServedUntilItArrives()
    {
        List<string> basics = ServeTokens();
        var source = new ReloadableConfigurationSource(new() { ["M3ter:AccessKeyId"] = "old-key", ["M3ter:ApiSecret"] = "old-secret" });
        IConfigurationRoot config = new ConfigurationBuilder().Add(source).Build();
        using ServiceProvider sp = Services().AddSingleton<IConfiguration>(config).AddM3terAuth().BuildServiceProvider();
        var provider = sp.GetRequiredService<ITokenProvider>();
        var registration = sp.GetRequiredKeyedService<M3terAuthRegistration>(Options.DefaultName);
        M3terToken before = await provider.GetTokenAsync();
        TokenProvider replaced = registration.Provider;

        source.Provider.Replace(new() { ["M3ter:AccessKeyId"] = "new-key", ["M3ter:ApiSecret"] = "new-secret" });

        // No caller waits: the new credentials fetch in the background, without any call to start them.
        await TestWait.UntilAsync(() => registration.Provider.Status().CachedToken is { } t && !ReferenceEquals(t, before));
        M3terToken after = await provider.GetTokenAsync();
        Assert.NotSame(before, after);
        Assert.Same(after, await provider.GetTokenAsync());
        Assert.Null(replaced.Status().CachedToken); // the replaced provider let go of its token (and its timer)
        Assert.Equal(new[] { Basic("old-key", "old-secret"), Basic("new-key", "new-secret") }, basics);
    }

    [Fact]
    public async Task ConfigurationReload_KeyThenSecretInTwoReloads_ServesTheOldTokenUntilTheNewPairWorks_ThenNeverAgain()
    {
        // A vault or two configuration sources update the key and the secret separately: in between, the new key with
        // the old secret is refused. Calls must not fail for it, and that refusal must not be remembered.
        var basics = new List<string>();
        int issued = 0;
        _tokenEndpoint.When(HttpMethod.Post, "https://api.m3ter.com/oauth/token").Respond(request =>
        {
            string basic = request.Headers.Authorization!.Parameter!;
            lock (basics)
            {
                basics.Add(basic);
            }

            if (basic == Basic("new-key", "old-secret"))
            {
                return new HttpResponseMessage(HttpStatusCode.Unauthorized) { Content = new StringContent("{\"error\":\"invalid_client\"}") };
            }

            int n = System.Threading.Interlocked.Increment(ref issued);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{\"access_token\":\"pair-token-" + n + "\",\"expires_in\":18000}") };
        });
        var source = new ReloadableConfigurationSource(new() { ["M3ter:AccessKeyId"] = "old-key", ["M3ter:ApiSecret"] = "old-secret" });
        using ServiceProvider sp = Services().AddSingleton<IConfiguration>(new ConfigurationBuilder().Add(source).Build()).AddM3terAuth().BuildServiceProvider();
        var provider = sp.GetRequiredService<ITokenProvider>();
        M3terToken old = await provider.GetTokenAsync();

        source.Provider.Replace(new() { ["M3ter:AccessKeyId"] = "new-key", ["M3ter:ApiSecret"] = "old-secret" });
        await TestWait.UntilAsync(() => { lock (basics) { return basics.Count == 2; } });
        for (int i = 0; i < 50; i++)
        {
            Assert.Same(old, await provider.GetTokenAsync()); // the half-rotated pair is refused: keep the old token
        }

        source.Provider.Replace(new() { ["M3ter:AccessKeyId"] = "new-key", ["M3ter:ApiSecret"] = "new-secret" });
        await TestWait.UntilAsync(() => sp.GetRequiredKeyedService<M3terAuthRegistration>(Options.DefaultName).Provider.Status().CachedToken?.AccessToken == "pair-token-2");
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal("pair-token-2", (await provider.GetTokenAsync()).AccessToken); // never the old token again
        }

        Assert.Equal(new[] { Basic("old-key", "old-secret"), Basic("new-key", "old-secret"), Basic("new-key", "new-secret") }, basics);
    }

    [Theory]
    [InlineData("M3ter:OrganizationId", "other-org")]
    [InlineData("M3ter:RetryDelay", "00:00:02")]
    [InlineData("M3ter:WarmUpOnStart", "true")]
    [InlineData("M3ter:RefreshBeforeExpiry", "00:10:00")]
    [InlineData("M3ter:MaxRetryAttempts", "5")]
    public async Task ConfigurationReload_SettingsThatDoNotChangeTheToken_KeepTheCachedToken(string key, string value)
    {
        List<string> basics = ServeTokens();
        var settings = new Dictionary<string, string?> { ["M3ter:AccessKeyId"] = "k", ["M3ter:ApiSecret"] = "s" };
        var source = new ReloadableConfigurationSource(settings);
        using ServiceProvider sp = Services().AddSingleton<IConfiguration>(new ConfigurationBuilder().Add(source).Build()).AddM3terAuth().BuildServiceProvider();
        var provider = sp.GetRequiredService<ITokenProvider>();
        var registration = sp.GetRequiredKeyedService<M3terAuthRegistration>(Options.DefaultName);
        M3terToken before = await provider.GetTokenAsync();

        source.Provider.Replace(new(settings) { [key] = value });

        Assert.Equal(value, config(registration.Options, key));
        Assert.Same(before, await provider.GetTokenAsync());
        await Task.Delay(50);
        Assert.Single(basics);

        static string config(M3terAuthOptions o, string key) => key switch
        {
            "M3ter:OrganizationId" => o.OrganizationId!,
            "M3ter:RetryDelay" => o.RetryDelay.ToString(),
            "M3ter:WarmUpOnStart" => o.WarmUpOnStart ? "true" : "false",
            "M3ter:RefreshBeforeExpiry" => o.RefreshBeforeExpiry.ToString(),
            _ => o.MaxRetryAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    [Fact]
    public async Task ConfigurationReload_NewBaseAddress_DropsTheToken()
    {
        List<string> oldHost = ServeTokens();
        List<string> newHost = ServeTokens("https://api.other.m3ter.com/");
        var settings = new Dictionary<string, string?> { ["M3ter:AccessKeyId"] = "k", ["M3ter:ApiSecret"] = "s" };
        var source = new ReloadableConfigurationSource(settings);
        using ServiceProvider sp = Services().AddSingleton<IConfiguration>(new ConfigurationBuilder().Add(source).Build()).AddM3terAuth().BuildServiceProvider();
        var provider = sp.GetRequiredService<ITokenProvider>();
        M3terToken before = await provider.GetTokenAsync();

        source.Provider.Replace(new(settings) { ["M3ter:BaseAddress"] = "https://api.other.m3ter.com/" });
        M3terToken after = await provider.GetTokenAsync();

        Assert.NotSame(before, after); // a token from one server is never sent to another
        Assert.Single(oldHost);
        Assert.Single(newHost);
    }

    [Fact]
    public async Task ConfigurationReload_ACallerStillHoldingTheReplacedProvider_GetsItsTokenWithTheNewCredentials()
    {
        // A request that read the registration's provider just before a reload, and reached it only after (a starved
        // thread on a busy machine), found it retired and empty, and requested a token with the replaced credentials:
        // after a rotation that deactivated the old key, that call failed (found by the integration loop under load).
        List<string> tokenRequests = ServeTokens();
        var settings = new Dictionary<string, string?> { ["M3ter:AccessKeyId"] = "k", ["M3ter:ApiSecret"] = "s" };
        var source = new ReloadableConfigurationSource(settings);
        using ServiceProvider sp = Services().AddSingleton<IConfiguration>(new ConfigurationBuilder().Add(source).Build()).AddM3terAuth().BuildServiceProvider();
        TokenProvider replaced = sp.GetRequiredKeyedService<M3terAuthRegistration>(Options.DefaultName).Provider;

        source.Provider.Replace(new(settings) { ["M3ter:AccessKeyId"] = "k2" });
        M3terToken token = await replaced.GetTokenAsync();

        Assert.Equal(new[] { Basic("k2", "s") }, tokenRequests);
        Assert.Same(token, await sp.GetRequiredService<ITokenProvider>().GetTokenAsync());
    }

    [Fact]
    public async Task ConfigurationReload_NewIngestBaseAddress_DropsTheToken()
    {
        // The token goes to the ingest host too: one obtained before the move is never sent to the new ingest host.
        List<string> tokenRequests = ServeTokens();
        var settings = new Dictionary<string, string?> { ["M3ter:AccessKeyId"] = "k", ["M3ter:ApiSecret"] = "s" };
        var source = new ReloadableConfigurationSource(settings);
        using ServiceProvider sp = Services().AddSingleton<IConfiguration>(new ConfigurationBuilder().Add(source).Build()).AddM3terAuth().BuildServiceProvider();
        var provider = sp.GetRequiredService<ITokenProvider>();
        M3terToken before = await provider.GetTokenAsync();

        source.Provider.Replace(new(settings) { ["M3ter:IngestBaseAddress"] = "https://ingest.other.example/" });
        M3terToken after = await provider.GetTokenAsync();

        Assert.NotSame(before, after);
        Assert.Equal(2, tokenRequests.Count);
    }

    [Fact]
    public async Task HttpClientFactoryTraceLogging_NeverShowsBasicCredentialsOrBearerTokens()
    {
        ServeTokens();
        var logs = new CapturingLoggerProvider();
        IServiceCollection services = Services(logs).AddM3terAuth(o => { o.AccessKeyId = "k"; o.ApiSecret = TestOptions.Secret; });
        services.AddHttpClient("m3ter", c => c.DefaultRequestHeaders.Add("X-Visible", "visible-value"))
            .AddM3terAuthHandler()
            .ConfigurePrimaryHttpMessageHandler(() => _api);
        using ServiceProvider sp = services.BuildServiceProvider();

        await sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter").GetAsync(new Uri("https://api.m3ter.com/organizations/o"));

        string all = logs.AllText;
        Assert.Contains("System.Net.Http.HttpClient.m3ter.ClientHandler", all, StringComparison.Ordinal); // the factory's handlers did log
        Assert.Contains("System.Net.Http.HttpClient." + TokenClient.HttpClientName, all, StringComparison.Ordinal);
        Assert.DoesNotContain(TestOptions.Secret, all, StringComparison.Ordinal);
        Assert.DoesNotContain(Basic("k", TestOptions.Secret), all, StringComparison.Ordinal);
        Assert.DoesNotContain("di-token-1", all, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(86_400_000)]
    public async Task TokenRequestTimeout_AtEitherEndOfItsRange_BuildsAWorkingTokenClient(int milliseconds)
    {
        ServeTokens();
        using ServiceProvider sp = Services()
            .AddM3terAuth(o => { o.AccessKeyId = "k"; o.ApiSecret = "s"; o.TokenRequestTimeout = TimeSpan.FromMilliseconds(milliseconds); })
            .BuildServiceProvider();
        sp.GetRequiredService<IStartupValidator>().Validate();

        M3terToken token = await sp.GetRequiredService<ITokenProvider>().GetTokenAsync();

        Assert.Equal("di-token-1", token.AccessToken);
    }

    [Fact]
    public void AddM3terAuth_ManyNamedRegistrations_ConfigureTheTokenClientOnce()
    {
        // Each registration used to add the token client's configuration again: 500 names ran 500 actions whenever
        // the token client was created, and made the redaction check 500 calls deep.
        (int Actions, int Depth, int HandlerDepth) TokenClient(int names, bool handlerTwice)
        {
            var services = new ServiceCollection();
            int depth = 0;
            bool Deepest(string header)
            {
                depth = new System.Diagnostics.StackTrace().FrameCount;
                return false;
            }

            services.AddHttpClient(M3ter.Auth.TokenClient.HttpClientName).RedactLoggedHeaders(Deepest);
            services.AddHttpClient("org-0").RedactLoggedHeaders(Deepest);
            for (int i = 0; i < names; i++)
            {
                string name = "org-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                services.AddM3terAuth(name, o => { o.AccessKeyId = "k"; o.ApiSecret = "s"; });
                IHttpClientBuilder client = services.AddHttpClient(name).AddM3terAuthHandler(name);
                if (handlerTwice)
                {
                    client.AddM3terAuthHandler(name);
                }
            }

            using ServiceProvider sp = services.BuildServiceProvider();
            var factory = sp.GetRequiredService<IOptionsMonitor<Microsoft.Extensions.Http.HttpClientFactoryOptions>>();
            Microsoft.Extensions.Http.HttpClientFactoryOptions options = factory.Get(M3ter.Auth.TokenClient.HttpClientName);
            Assert.True(options.ShouldRedactHeaderValue("Authorization"));
            Assert.False(options.ShouldRedactHeaderValue("X-Other"));
            int tokenClientDepth = depth;
            Microsoft.Extensions.Http.HttpClientFactoryOptions handlerClient = factory.Get("org-0");
            Assert.True(handlerClient.ShouldRedactHeaderValue("Proxy-Authorization"));
            Assert.False(handlerClient.ShouldRedactHeaderValue("X-Other"));
            return (options.HttpClientActions.Count + options.HttpMessageHandlerBuilderActions.Count, tokenClientDepth, depth);
        }

        (int Actions, int Depth, int HandlerDepth) one = TokenClient(1, handlerTwice: false);
        (int Actions, int Depth, int HandlerDepth) many = TokenClient(500, handlerTwice: true);

        Assert.Equal(one.Actions, many.Actions);
        Assert.NotEqual(0, one.Depth);
        Assert.Equal(one.Depth, many.Depth);
        Assert.Equal(one.HandlerDepth, many.HandlerDepth); // a client wrapped twice checks the credential headers once
    }

    /// <summary>An options monitor that, like the real one, may call a listener after its subscription was disposed (it calls them from a snapshot).</summary>
    private sealed class LateNotifyingMonitor(M3terAuthOptions initial) : IOptionsMonitor<M3terAuthOptions>, IDisposable
    {
        public Action<M3terAuthOptions, string?>? Listener { get; private set; }

        public M3terAuthOptions CurrentValue => initial;

        public M3terAuthOptions Get(string? name) => initial;

        public IDisposable OnChange(Action<M3terAuthOptions, string?> listener)
        {
            Listener = listener;
            return this;
        }

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task ConfigurationReload_ArrivingAsTheContainerIsDisposed_InstallsNoProvider()
    {
        var monitor = new LateNotifyingMonitor(new M3terAuthOptions { AccessToken = "first-token" });
        IServiceCollection services = Services().AddM3terAuth(o => o.AccessToken = "first-token");
        services.AddSingleton<IOptionsMonitor<M3terAuthOptions>>(monitor);
        ServiceProvider sp = services.BuildServiceProvider();
        var tokens = sp.GetRequiredService<ITokenProvider>();
        Assert.Equal("first-token", (await tokens.GetTokenAsync()).AccessToken);

        sp.Dispose();
        monitor.Listener!(new M3terAuthOptions { AccessToken = "rotated-token" }, Options.DefaultName);

        // Disposal wins: no provider serves a token (or arms a refresh timer) after it.
        await Assert.ThrowsAsync<ObjectDisposedException>(() => tokens.GetTokenAsync().AsTask());
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "Environment variables";
}
