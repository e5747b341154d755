using System.Text.Json.Nodes;
using SharpSeek.Data.Chat;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Tests.Data.Chat;

public class ChatTokenizerSetupTests
{
    private static string ByteFolder(TempDir dir, string? chatTemplate = null)
    {
        string folder = dir.File("model/x");
        folder = Path.GetDirectoryName(folder)!;
        ByteTokenizerFiles.Write(folder);
        if (chatTemplate is not null)
        {
            var path = Path.Combine(folder, "tokenizer_config.json");
            var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            config["chat_template"] = chatTemplate;
            File.WriteAllText(path, config.ToJsonString());
        }
        return folder;
    }

    [Fact]
    public void For_ByteTokenizerWithoutChatTokens_AddsThemAndWritesFilesWithChatTemplateOutsideTheModelFolder()
    {
        using var dir = new TempDir();
        string model = ByteFolder(dir);
        var before = Directory.GetFiles(model).ToDictionary(f => f, File.ReadAllText);
        string temp;
        using (var setup = ChatTokenizerSetup.For(model, "deepseek"))
        {
            Assert.Same(ChatTemplates.DeepSeek, setup.Template);
            Assert.Equal((4, 261), (setup.AddedTokenCount, setup.VocabSize));
            Assert.Equal(260, ChatTemplates.DeepSeek.EndOfTurnId(setup.Tokenizer));
            Assert.Equal(["tokenizer.json", "tokenizer_config.json"], setup.Files.Select(Path.GetFileName));
            temp = Path.GetDirectoryName(setup.Files[0])!;
            Assert.NotEqual(Path.GetFullPath(model), Path.GetFullPath(temp));
            Assert.Equal(261, TokenizerLoader.Load(temp).VocabSize);                         // the saved tokenizer has the added ids
            Assert.Same(ChatTemplates.DeepSeek, ChatTemplates.FromFolder(temp));            // and the chat_template
            Assert.Equal(256, setup.PadId);                                                  // no pad token: EOS
        }
        Assert.False(Directory.Exists(temp));                                                // Dispose removes the temporary folder
        Assert.Equal(before, Directory.GetFiles(model).ToDictionary(f => f, File.ReadAllText));   // the model folder is untouched
    }

    [Fact]
    public void For_Auto_UsesTheFolderTemplateWhenKnownElseChatMl()
    {
        using var dir = new TempDir();
        using (var deepseek = ChatTokenizerSetup.For(ByteFolder(dir, ChatTokenizerSetup.Jinja(ChatTemplates.DeepSeek))))
            Assert.Same(ChatTemplates.DeepSeek, deepseek.Template);
        using var other = new TempDir();
        using (var unknown = ChatTokenizerSetup.For(ByteFolder(other, "{{ messages[0]['content'] }}")))
            Assert.Same(ChatTemplates.ChatMl, unknown.Template);
    }

    [Fact]
    public void For_TokenizerAlreadyHasTheTokens_AddsNothingAndCopiesItsFiles()
    {
        using var dir = new TempDir();
        using var first = ChatTokenizerSetup.For(ByteFolder(dir), "chatml");
        string grown = Path.GetDirectoryName(first.Files[0])!;
        using var second = ChatTokenizerSetup.For(grown, "auto");                            // e.g. an SFT checkpoint as init_from
        Assert.Same(ChatTemplates.ChatMl, second.Template);
        Assert.Equal((0, 259), (second.AddedTokenCount, second.VocabSize));
    }

    [Fact]
    public void For_CharTokenizerLackingTheTokens_ThrowsConfigExceptionNamingTheTemplate()
    {
        using var dir = new TempDir();
        string folder = Path.GetDirectoryName(dir.File("char/x"))!;
        CharTokenizer.FromCorpus("abc").Save(Path.Combine(folder, CharTokenizer.FileName));
        var e = Assert.Throws<ConfigException>(() => ChatTokenizerSetup.For(folder, "chatml"));
        Assert.Contains("chatml template's special tokens", e.Message);
    }
}
