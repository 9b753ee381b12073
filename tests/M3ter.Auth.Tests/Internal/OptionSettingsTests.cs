using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace M3ter.Auth.Tests.Internal;

/// <summary>
/// The options declared once (<see cref="OptionSettings"/>): every public option has its row, and what a reload that
/// changes an option does to the cached token is what its row declares, proven end to end through configuration.
/// </summary>
public sealed class OptionSettingsTests
{
    public static TheoryData<string> AuthOptions => new(OptionSettings.Auth.Select(s => s.Name));

    [Theory]
    [InlineData(typeof(M3terAuthOptions))]
    [InlineData(typeof(M3terTenantOptions))]
    public void EveryPublicOption_HasExactlyOneRow(Type optionsType)
    {
        string[] properties = optionsType.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.SetMethod is { IsPublic: true })
            .Select(p => p.Name)
            .OrderBy(n => n, StringComparer.Ordinal)
            .ToArray();
        string[] rows = (optionsType == typeof(M3terAuthOptions) ? OptionSettings.Auth.Select(s => s.Name) : OptionSettings.Tenant.Select(s => s.Name))
            .OrderBy(n => n, StringComparer.Ordinal)
            .ToArray();

        Assert.Equal(properties, rows); // a new option without its row would be neither read from configuration nor compared on reload
        Assert.NotEmpty(rows);
    }

    [Fact]
    public void TheDeclaredEffects_AreTheOnesTheReadmePromises()
    {
        // Written out here, not read from the table: a row that declared a new ingest host harmless would otherwise
        // pass the end-to-end test below, which proves only that behaviour follows the row.
        var promised = new Dictionary<string, ReloadEffect>(StringComparer.Ordinal)
        {
            [nameof(M3terAuthOptions.AccessKeyId)] = ReloadEffect.RenewsToken,
            [nameof(M3terAuthOptions.ApiSecret)] = ReloadEffect.RenewsToken,
            [nameof(M3terAuthOptions.BaseAddress)] = ReloadEffect.DropsToken,
            [nameof(M3terAuthOptions.IngestBaseAddress)] = ReloadEffect.DropsToken,
            [nameof(M3terAuthOptions.AccessToken)] = ReloadEffect.DropsToken,
        };

        Assert.All(OptionSettings.Auth, s => Assert.Equal(promised.TryGetValue(s.Name, out ReloadEffect effect) ? effect : ReloadEffect.KeepsToken, s.OnChange));
    }

    [Theory]
    [MemberData(nameof(AuthOptions))]
    public void EachRowsExample_ReadsAsAValidValueOtherThanTheDefault(string option)
    {
        IOptionSetting<M3terAuthOptions> setting = OptionSettings.Auth.Single(s => s.Name == option);
        var options = TestOptions.Create();
        M3terAuthOptions before = TestOptions.Create();

        setting.Read(options, setting.Example, option, (_, message) => Assert.Fail(message));

        Assert.False(setting.Same(before, options));
        Assert.False(options.IsEquivalentTo(before));
        Assert.Empty(M3terAuthOptionsValidator.Collect(options, nameof(M3terAuthOptions)));
    }

    [Theory]
    [MemberData(nameof(AuthOptions))]
    public async Task AReloadThatChangesOneOption_DoesToTheTokenWhatItsRowDeclares(string option)
    {
        IOptionSetting<M3terAuthOptions> setting = OptionSettings.Auth.Single(s => s.Name == option);
        var settings = new Dictionary<string, string?> { ["M3ter:AccessKeyId"] = TestOptions.KeyId, ["M3ter:ApiSecret"] = TestOptions.Secret };
        var source = new ReloadableConfigurationSource(settings);
        using var host = new TestHost(services: s => s.AddSingleton<IConfiguration>(new ConfigurationBuilder().Add(source).Build()), defaults: false);
        var registration = host.Services.GetRequiredKeyedService<M3terAuthRegistration>(Options.DefaultName);
        M3terToken first = await registration.GetTokenAsync();

        var renewal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (setting.OnChange == ReloadEffect.RenewsToken)
        {
            host.Tokens.Gate = renewal; // the new credentials' request waits, so what is served meanwhile can be seen
        }

        source.Provider.Replace(new Dictionary<string, string?>(settings) { ["M3ter:" + option] = setting.Example });
        Assert.True(setting.Same(registration.Options, TestOptionsWith(setting)), $"the reload did not apply {option}");

        switch (setting.OnChange)
        {
            case ReloadEffect.KeepsToken:
                Assert.Same(first, await registration.GetTokenAsync());
                Assert.Equal(1, host.Tokens.Calls);
                break;
            case ReloadEffect.RenewsToken:
                await TestWait.UntilAsync(() => host.Tokens.Calls == 2); // a token of the new credentials is requested at once...
                Assert.Same(first, await registration.GetTokenAsync()); // ...and the old one served until it comes
                renewal.SetResult();
                await TestWait.UntilAsync(() => !registration.Provider.Status().IsFetching);
                Assert.Equal("token-2", (await registration.GetTokenAsync()).AccessToken);
                break;
            case ReloadEffect.DropsToken:
                // A new token: fetched (token-2), or the pre-issued one, which is served as it is.
                Assert.Equal(option == nameof(M3terAuthOptions.AccessToken) ? setting.Example : "token-2", (await registration.GetTokenAsync()).AccessToken);
                break;
            default:
                Assert.Fail($"{option}: no test for {setting.OnChange}");
                break;
        }
    }

    [Fact]
    public void ATenantsOptions_CopyEveryTokenSetting()
    {
        var tenants = new M3terTenantOptions();
        foreach (IOptionSetting<ITokenSettings> setting in OptionSettings.Token)
        {
            setting.Read(tenants, setting.Example, setting.Name, (_, message) => Assert.Fail(message));
        }

        M3terAuthOptions options = tenants.ToAuthOptions(new M3terCredentials("k", "s"));

        Assert.All(OptionSettings.Token, s => Assert.True(s.Same(tenants, options), s.Name));
        Assert.All(OptionSettings.Token, s => Assert.False(s.Same(new M3terAuthOptions(), options), s.Name));
    }

    private static M3terAuthOptions TestOptionsWith(IOptionSetting<M3terAuthOptions> setting)
    {
        var options = new M3terAuthOptions();
        setting.Read(options, setting.Example, setting.Name, (_, message) => Assert.Fail(message));
        return options;
    }
}
