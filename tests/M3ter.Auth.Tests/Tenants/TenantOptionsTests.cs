using System;
using System.Collections.Generic;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace M3ter.Auth.Tests.Tenants;

/// <summary><see cref="M3terTenantOptions"/>: the defaults of <see cref="M3terAuthOptions"/>, bound from <c>M3ter:Tenants</c>, validated on start naming the key.</summary>
public sealed class TenantOptionsTests
{
    [Fact]
    public void Defaults_AreThoseOfTheSingleRegistration()
    {
        var tenants = new M3terTenantOptions();
        var single = new M3terAuthOptions();

        Assert.Equal(1_000, tenants.MaxTenants);
        Assert.Equal(TimeSpan.FromMinutes(30), tenants.IdleTimeout);
        Assert.Equal(single.RefreshBeforeExpiry, tenants.RefreshBeforeExpiry);
        Assert.Equal(single.TokenRequestTimeout, tenants.TokenRequestTimeout);
        Assert.Equal(single.MaxRetryAttempts, tenants.MaxRetryAttempts);
        Assert.Equal(single.RetryDelay, tenants.RetryDelay);
        Assert.Equal(single.RejectedCredentialsCacheDuration, tenants.RejectedCredentialsCacheDuration);
    }

    [Fact]
    public void TheTenantsSection_IsBound_AndTheDelegateRunsLast()
    {
        using ServiceProvider sp = Build(new Dictionary<string, string?>
        {
            ["M3ter:Tenants:MaxTenants"] = "250",
            ["M3ter:Tenants:IdleTimeout"] = "00:10:00",
            ["M3ter:Tenants:RetryDelay"] = "00:00:02",
            ["M3ter:Tenants:MaxRetryAttempts"] = "5",
        }, o => o.MaxRetryAttempts = 1);

        M3terTenantOptions options = sp.GetRequiredService<IOptions<M3terTenantOptions>>().Value;

        Assert.Equal(250, options.MaxTenants);
        Assert.Equal(TimeSpan.FromMinutes(10), options.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), options.RetryDelay);
        Assert.Equal(1, options.MaxRetryAttempts);
    }

    [Fact]
    public void BadValues_FailOnStart_NamingTheKey()
    {
        using ServiceProvider sp = Build(new Dictionary<string, string?>
        {
            ["M3ter:Tenants:MaxTenants"] = "lots",
            ["M3ter:Tenants:IdleTimeout"] = "-00:01:00",
            ["M3ter:Tenants:TokenRequestTimeout"] = "00:00:00.001",
        }, configure: null);

        var error = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("M3ter:Tenants:MaxTenants must be a whole number, but it is 'lots'", error.Message, StringComparison.Ordinal);
        Assert.Contains("M3ter:Tenants:IdleTimeout must be positive", error.Message, StringComparison.Ordinal);
        Assert.Contains("M3ter:Tenants:TokenRequestTimeout must be between 10 milliseconds and a day", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MaxTenantsBelowOne_IsRefused()
    {
        using ServiceProvider sp = Build(new Dictionary<string, string?>(), o => o.MaxTenants = 0);

        var error = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("M3ter:Tenants:MaxTenants must be at least 1, but it is 0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddM3terTenantAuthHandler_WithoutAddM3terAuthTenants_SaysWhatIsMissing()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("m3ter").AddM3terTenantAuthHandler();
        using ServiceProvider sp = services.BuildServiceProvider();

        var ex = Assert.Throws<InvalidOperationException>(() => sp.GetRequiredService<System.Net.Http.IHttpClientFactory>().CreateClient("m3ter"));

        Assert.Contains("AddM3terAuthTenants", ex.Message, StringComparison.Ordinal);
    }

    private static ServiceProvider Build(Dictionary<string, string?> values, Action<M3terTenantOptions>? configure)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
        if (configure is null)
        {
            services.AddM3terAuthTenants((_, _) => new System.Threading.Tasks.ValueTask<M3terCredentials?>((M3terCredentials?)null));
        }
        else
        {
            services.AddM3terAuthTenants((_, _) => new System.Threading.Tasks.ValueTask<M3terCredentials?>((M3terCredentials?)null), configure);
        }

        return services.BuildServiceProvider();
    }
}
